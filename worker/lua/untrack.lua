-- untrack: a producer no longer wants to know; the tracker ends as cancelled.
--
-- KEYS[1] tracker   tracker hash    {ns}:v1:t:{provider}:{account}:{msg_id}
-- KEYS[2] due       due schedule    {ns}:v1:due:{provider}:{account}  ZSET msg_id -> next check, ms
-- KEYS[3] active    active counts   {ns}:v1:active   HASH "provider:account" -> active trackers
-- KEYS[4] events    events stream   {ns}:v1:events   one entry: outcome "cancelled"
-- KEYS[5] stats     fleet counters  {ns}:v1:stats    HASH: "finished:cancelled" += 1
-- KEYS[6] inflight  in flight       {ns}:v1:inflight:{provider}:{account}   a claimed check is dropped
-- KEYS[7] outbox    the tracker's outbox  {ns}:v1:outbox:{provider}:{account}:{msg_id}  LIST: events to deliver
-- KEYS[8] notify    delivery schedule     {ns}:v1:notify:due   ZSET tracker id -> next attempt, ms
-- KEYS[9] since     undelivered since     {ns}:v1:notify:since ZSET tracker id -> its oldest undelivered event, ms
-- ARGV[1] tracker_id    "provider:account:msg_id"
-- ARGV[2] retention_ms  of a finished tracker
-- ARGV[3] events_maxlen events MAXLEN
-- ARGV[4] outbox_ttl_ms the outbox expires this long after its last event
-- ARGV[5] outbox_max    events an outbox holds at most (the oldest beyond are given up)
--
-- Returns {status, outcome}: "cancelled", "gone" (no such tracker) or "finished" (it had
-- already ended: its outcome is left as it was).
local tracker, due, active, events, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id = ARGV[1]
local wrong = check_tracker_keys()
if wrong then return wrong end
local t = redis.call('HMGET', tracker, 'outcome', 'state', 'raw_state')
if not t[2] then
  return {'gone', ''}
end
if t[1] then  -- no outcome field while active: it is written when the tracker ends
  return {'finished', t[1]}
end
local now = now_ms()
redis.call('ZREM', KEYS[6], member_of(id))
finish(tracker, due, active, stats, id, t[2], 'cancelled', now, tonumber(ARGV[2]))
emit(tracker, events, ARGV[3], id, t[2], t[2], t[3], 'cancelled', now, KEYS[7], KEYS[8], KEYS[9],
  {stats, ARGV[4], ARGV[5]})
return {'cancelled', 'cancelled'}
