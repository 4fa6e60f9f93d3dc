-- expire: of trackers just claimed, end those past their deadline (timed_out) and drop the
-- schedule entries of those that are gone or finished. The dispatcher runs it on what it
-- claims, so a tracker ends at its deadline even if none of its checks ever reports (each
-- one crashes its worker, or is lost): the lease alone would bring it back for ever.
--
-- KEYS[1] due        due schedule    {ns}:v1:due:{provider}:{account}  ZSET msg_id -> next check, ms
-- KEYS[2] inflight   in flight       {ns}:v1:inflight:{provider}:{account}
-- KEYS[3] active     active counts   {ns}:v1:active
-- KEYS[4] events     events stream   {ns}:v1:events
-- KEYS[5] stats      fleet counters  {ns}:v1:stats    HASH: "finished:timed_out" += 1
-- KEYS[6] notify     delivery schedule  {ns}:v1:notify:due   ZSET tracker id -> next attempt, ms
-- KEYS[7] since      undelivered since  {ns}:v1:notify:since ZSET tracker id -> its oldest undelivered event, ms
-- KEYS[8..] trackers per claimed tracker, two keys: its hash {ns}:v1:t:{provider}:{account}:{msg_id}
--                    and its outbox {ns}:v1:outbox:{provider}:{account}:{msg_id}
-- ARGV[1] retention_ms    of a finished tracker
-- ARGV[2] events_maxlen   events MAXLEN
-- ARGV[3] lease_ms        the lease the claim gave them
-- ARGV[4] outbox_ttl_ms   the outbox expires this long after its last event
-- ARGV[5] outbox_max      events an outbox holds at most (the oldest beyond are given up)
-- ARGV[6..] tracker_ids   the claimed trackers' ids, in the order of their KEYS
--
-- A tracker whose deadline comes before its lease ends is due again at its deadline, so
-- one whose check is lost with its worker ends at the deadline, not a lease after it.
--
-- Returns the ids not to check: ended here, gone, or already finished.
local due, inflight, active, events, stats, notify = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local since = KEYS[7]
local retention, maxlen, lease = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local dropped = {}
for i = 1, (#KEYS - 7) / 2 do
  local tracker, outbox, id = KEYS[6 + 2 * i], KEYS[7 + 2 * i], ARGV[5 + i]
  local t = redis.call('HMGET', tracker, 'outcome', 'expires_at', 'state', 'raw_state')
  if not t[3] or t[1] then  -- no such tracker, or it has ended (no outcome field while active)
    redis.call('ZREM', due, member_of(id))
    redis.call('ZREM', inflight, member_of(id))
    dropped[#dropped + 1] = id
  elseif now >= (tonumber(t[2]) or math.huge) then  -- a deadline that is no number: not this script's to judge
    redis.call('ZREM', inflight, member_of(id))
    finish(tracker, due, active, stats, id, t[3], 'timed_out', now, retention)
    emit(tracker, events, maxlen, id, t[3], t[3], t[4], 'timed_out', now, outbox, notify, since,
      {stats, ARGV[4], ARGV[5]})
    dropped[#dropped + 1] = id
  elseif tonumber(t[2]) and tonumber(t[2]) < now + lease then
    redis.call('ZADD', due, 'XX', tonumber(t[2]), member_of(id))
  end
end
return dropped
