-- notify_done: what became of one attempt at a tracker's oldest undelivered event.
--
-- KEYS[1] outbox    the tracker's outbox   {ns}:v1:outbox:{tracker}     LIST of event JSON
-- KEYS[2] delivery  delivery state         {ns}:v1:delivery:{tracker}   HASH
-- KEYS[3] notify    delivery schedule      {ns}:v1:notify:due           ZSET tracker id -> next attempt, ms
-- KEYS[4] since     undelivered since      {ns}:v1:notify:since         ZSET tracker id -> oldest event, ms
-- KEYS[5] stats     fleet counters         {ns}:v1:stats                "notify:<result>" += 1, counts
-- KEYS[6] busy      the host's deliveries  {ns}:v1:notify:busy:{target} ZSET (the place is released)
-- ARGV[1] tracker_id    "provider:account:msg_id"
-- ARGV[2] token         the lease token notify_begin took
-- ARGV[3] event_id      the event attempted
-- ARGV[4] result        "delivered", "given_up" (both: the next event's turn), "retry" (an
--                       attempt failed), "wait" (no attempt made: a cap said wait) or
--                       "task_sent" (the callback task went, the webhook is to be retried)
-- ARGV[5] delay_ms      when to try again (retry, wait, task_sent)
-- ARGV[6] error         the attempt's error, '' for none
-- ARGV[7] retention_ms  how long the delivery state is kept once the outbox is empty (or expired)
-- ARGV[8] counts        counters to add to stats, "field\tn" lines ('' for none)
--
-- Returns {status ("ok", or "stale": the lease is no longer this caller's, nothing written
-- but the counts), events left in the outbox}.
local outbox, delivery, notify, since, stats, busy = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local id, token, event_id, result = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local delay, err, retention = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local now = now_ms()
redis.call('ZREM', busy, token)
add_counts(stats, ARGV[8])
if redis.call('HGET', delivery, 'lease') ~= token then
  return {'stale', redis.call('LLEN', outbox)}
end
redis.call('HDEL', delivery, 'lease', 'lease_until', 'sending')
if result == 'delivered' or result == 'given_up' then
  local head = redis.call('LINDEX', outbox, 0)
  if head and cjson.decode(head)['event_id'] == event_id then redis.call('LPOP', outbox) end
  redis.call('HSET', delivery, 'last_event', event_id, 'last_result', result, 'last_at', now)
  if err ~= '' then redis.call('HSET', delivery, 'last_error', err) end
  redis.call('HDEL', delivery, 'attempts', 'first_at', 'task_done')
  redis.call('HINCRBY', delivery, result, 1)
  redis.call('HINCRBY', stats, 'notify:' .. result, 1)
  delay = 0
elseif result == 'retry' or result == 'task_sent' then
  redis.call('HINCRBY', delivery, 'attempts', 1)
  if not redis.call('HGET', delivery, 'first_at') then redis.call('HSET', delivery, 'first_at', now) end
  redis.call('HSET', delivery, 'last_error', err, 'last_result', 'retry', 'last_at', now)
  if result == 'task_sent' then redis.call('HSET', delivery, 'task_done', event_id) end
  redis.call('HINCRBY', stats, 'notify:retried', 1)
end
local left = redis.call('LLEN', outbox)
if left == 0 then
  redis.call('ZREM', notify, id)
  redis.call('ZREM', since, id)
  redis.call('PEXPIRE', delivery, retention)
else
  -- kept the retention past its outbox's time (or the retention, for an outbox without one)
  redis.call('PEXPIRE', delivery, math.max(redis.call('PTTL', outbox), 0) + retention)
  redis.call('ZADD', notify, now + delay, id)
  local next_id = cjson.decode(redis.call('LINDEX', outbox, 0))['event_id']
  redis.call('ZADD', since, tonumber(string.match(next_id, '^(%d+)')), id)
end
return {'ok', left}
