-- defer: put a tracker back on its schedule without a check (rate limit, cool-down, pause).
--
-- Not an error: the tracker's error count and backoff stay as they are. A tracker whose
-- deadline has passed ends here as timed_out, so a long pause cannot keep it alive.
--
-- KEYS[1] tracker   tracker hash    {ns}:v1:t:{provider}:{account}:{msg_id}
-- KEYS[2] due       due schedule    {ns}:v1:due:{provider}:{account}  ZSET msg_id -> next check, ms
-- KEYS[3] active    active counts   {ns}:v1:active
-- KEYS[4] events    events stream   {ns}:v1:events
-- KEYS[5] stats     fleet counters  {ns}:v1:stats    HASH: "deferrals:<reason>" += 1
-- KEYS[6] inflight  in flight       {ns}:v1:inflight:{provider}:{account}   the check is no longer in flight
-- KEYS[7] outbox    the tracker's outbox  {ns}:v1:outbox:{provider}:{account}:{msg_id}  LIST: events to deliver
-- KEYS[8] notify    delivery schedule     {ns}:v1:notify:due   ZSET tracker id -> next attempt, ms
-- KEYS[9] since     undelivered since     {ns}:v1:notify:since ZSET tracker id -> its oldest undelivered event, ms
-- ARGV[1] tracker_id     "provider:account:msg_id"
-- ARGV[2] delay_ms       delay, ms
-- ARGV[3] reason         "rate", "stale" (a grant whose request could not leave in time), "cooldown", "paused"
-- ARGV[4] retention_ms   of a finished tracker
-- ARGV[5] events_maxlen  events MAXLEN
-- ARGV[6] counts         counters to add to stats with this write, "field\tn" lines ('' for none)
-- ARGV[7] outbox_ttl_ms  the outbox expires this long after its last event
-- ARGV[8] outbox_max     events an outbox holds at most (the oldest beyond are given up)
--
-- Returns {status, outcome}: status "deferred", "gone" or "finished".
local tracker, due, active, events, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, delay, reason = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local wrong = check_tracker_keys()  -- before any write: nothing half-done
if wrong then return wrong end
local now = now_ms()
redis.call('ZREM', KEYS[6], member_of(id))
add_counts(stats, ARGV[6])
local t = redis.call('HMGET', tracker, 'outcome', 'expires_at', 'state', 'raw_state')
if not t[3] then
  redis.call('ZREM', due, member_of(id))
  return {'gone', ''}
end
if t[1] then  -- no outcome field while active: it is written when the tracker ends
  redis.call('ZREM', due, member_of(id))
  return {'finished', t[1]}
end
redis.call('HINCRBY', stats, 'deferrals:' .. reason, 1)
if now >= tonumber(t[2]) then
  finish(tracker, due, active, stats, id, t[3], 'timed_out', now, tonumber(ARGV[4]))
  emit(tracker, events, ARGV[5], id, t[3], t[3], t[4], 'timed_out', now, KEYS[7], KEYS[8], KEYS[9],
    {stats, ARGV[7], ARGV[8]})
  return {'finished', 'timed_out'}
end
redis.call('ZADD', due, 'XX', math.min(now + delay, tonumber(t[2])), member_of(id))
return {'deferred', 'active'}
