-- notify_begin: take the lease of one tracker's deliveries and hand back its oldest
-- undelivered event. One holder at a time, so a tracker's events go out one after another.
--
-- KEYS[1] outbox    the tracker's outbox   {ns}:v1:outbox:{tracker}     LIST of event JSON, oldest first
-- KEYS[2] delivery  delivery state         {ns}:v1:delivery:{tracker}   HASH
-- KEYS[3] tracker   tracker hash           {ns}:v1:t:{tracker}          callback_url, callback_task, callback_queue
--                                                                           (only for entries that do not carry them)
-- KEYS[4] notify    delivery schedule      {ns}:v1:notify:due           ZSET tracker id -> next attempt, ms
-- KEYS[5] since     undelivered since      {ns}:v1:notify:since         ZSET tracker id -> oldest event, ms
-- KEYS[6] stats     fleet counters         {ns}:v1:stats                "notify:redelivered" += 1
-- ARGV[1] tracker_id  "provider:account:msg_id"
-- ARGV[2] token       this delivery's lease token
-- ARGV[3] lease_ms    how long the lease holds (longer than any one attempt)
--
-- An event handed out before whose attempt never reported (its worker died) is counted as
-- redelivered: its receiver may see it twice, with the same event_id.
--
-- Returns {"go", event JSON, callback_url, callback_task, callback_queue (the entry's), attempts (of this
-- event so far), first attempt's time (ms, "" for none), now (ms), task done ("1": its
-- callback task was sent already, only the webhook is left)}, or {"busy"} (another holds the
-- lease), or {"empty"} (nothing left: off the schedule).
local outbox, delivery, tracker, notify, since, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, token, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local d = redis.call('HMGET', delivery, 'lease', 'lease_until', 'sending', 'attempts', 'first_at', 'task_done')
if d[1] and d[1] ~= token and tonumber(d[2] or '0') > now then return {'busy'} end
local head = redis.call('LINDEX', outbox, 0)
if not head then
  redis.call('ZREM', notify, id)
  redis.call('ZREM', since, id)
  redis.call('HDEL', delivery, 'lease', 'lease_until', 'sending')
  return {'empty'}
end
local entry = cjson.decode(head)
local event_id = entry['event_id']
if d[3] == event_id then redis.call('HINCRBY', stats, 'notify:redelivered', 1) end
redis.call('HSET', delivery, 'lease', token, 'lease_until', now + lease, 'sending', event_id)
-- kept while its outbox is (notify_done sets its time after the attempt), and at least
-- through the lease: never without a TTL
redis.call('PEXPIRE', delivery, math.max(redis.call('PTTL', outbox), 0) + lease)
redis.call('ZADD', notify, now + lease, id)
-- the callbacks the event was emitted for; an entry written before they were kept in it:
-- the tracker's, if it still has a hash
local cb = entry['callback']
local t
if type(cb) == 'table' then
  t = {cb['url'], cb['task'], cb['queue']}
else
  t = redis.call('HMGET', tracker, 'callback_url', 'callback_task', 'callback_queue')
end
return {'go', head, t[1] or '', t[2] or '', t[3] or '', d[4] or '0', d[5] or '', tostring(now),
  d[6] == event_id and '1' or '0'}
