-- register: start tracking a message, update an active tracker, or re-open a timed-out one;
-- idempotent.
--
-- KEYS[1] tracker   tracker hash    {ns}:v1:t:{provider}:{account}:{msg_id}
-- KEYS[2] due       due schedule    {ns}:v1:due:{provider}:{account}  ZSET msg_id -> next check, ms
-- KEYS[3] active    active counts   {ns}:v1:active   HASH "provider:account" -> active trackers
-- KEYS[4] events    events stream   {ns}:v1:events
-- KEYS[5] stats     fleet counters  {ns}:v1:stats    HASH: "finished:settled" += 1 when an update
--                   settles it, "reopened" += 1, "active:<provider>:<state>" gauges
-- KEYS[6] inflight  in flight       {ns}:v1:inflight:{provider}:{account}   (type-checked only)
-- KEYS[7] outbox    the tracker's outbox  {ns}:v1:outbox:{provider}:{account}:{msg_id}  LIST: events to deliver
-- KEYS[8] notify    delivery schedule     {ns}:v1:notify:due   ZSET tracker id -> next attempt, ms
-- KEYS[9] since     undelivered since     {ns}:v1:notify:since ZSET tracker id -> its oldest undelivered event, ms
-- KEYS[10] early    early pushes    {ns}:v1:push:early     HASH tracker id -> a push that came before this request
-- KEYS[11] early_at their ages     {ns}:v1:push:early-at  ZSET (type-checked only: observe.lua keeps both)
-- KEYS[12] pushed   pushing accounts {ns}:v1:push:seen     HASH "provider:account" -> its last push, ms
-- ARGV[1] tracker_id      "provider:account:msg_id"
-- ARGV[2] until           "delivered" | "read"
-- ARGV[3] expires_in_ms   the producer's expires_in, ms
-- ARGV[4] first_delay_ms  first check delay, ms
-- ARGV[5] ceiling         the furthest state this provider can report
-- ARGV[6] retention_ms    of a finished tracker
-- ARGV[7] events_maxlen   events MAXLEN
-- ARGV[8] outbox_ttl_ms   the outbox expires this long after its last event
-- ARGV[9] outbox_max      events an outbox holds at most (the oldest beyond are given up)
-- ARGV[10] live_ms        an account that pushed within this long counts as pushing: the
-- ARGV[11] safety_ms      first check of a new tracker then comes at least this late
-- ARGV[12..] fields       field, value pairs stored only when the tracker is created
--
-- Returns {status, outcome, early}: status is "created", "updated", "unchanged", "reopened" (a
-- timed-out tracker tracked again: active again, its history kept) or "finished" (settled
-- or cancelled: left as it is); early is the push kept for this tracker before it was
-- tracked ('' for none), for the caller to apply with observe.lua (which then drops it).
-- Nothing is written when a key has the wrong type.
local tracker, due, active, events, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, until_state = ARGV[1], ARGV[2]
local expires_in, first_delay = tonumber(ARGV[3]), tonumber(ARGV[4])
local ceiling, retention, maxlen = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local bound = {stats, ARGV[8], ARGV[9]}
local wrong = check_tracker_keys() or check_types({[KEYS[10]] = 'hash', [KEYS[11]] = 'zset', [KEYS[12]] = 'hash'})
if wrong then return wrong end
local now = now_ms()
local early = redis.call('HGET', KEYS[10], id) or ''
local last_push = tonumber(ARGV[10]) > 0 and redis.call('HGET', KEYS[12], group_of(id))
if last_push and now - tonumber(last_push) < tonumber(ARGV[10]) then
  first_delay = math.max(first_delay, tonumber(ARGV[11]))
end

local current = redis.call('HMGET', tracker, 'outcome', 'until', 'expires_at', 'state', 'raw_state',
  'expires_in')
local state, raw = current[4], current[5]

-- The tracker has a (new) target: settled at once if its state already reaches it.
local function settle_if_reached(status)
  if is_settled(state, until_state, ceiling) then
    finish(tracker, due, active, stats, id, state, 'settled', now, retention)
    emit(tracker, events, maxlen, id, state, state, raw, 'settled', now, KEYS[7], KEYS[8], KEYS[9], bound)
    return {status, 'settled', early}
  end
  return {status, 'active', early}
end

if state and current[1] == 'timed_out' and now + expires_in > tonumber(current[3]) then
  -- Tracked again after its deadline: back on the schedule with the new deadline.
  redis.call('HDEL', tracker, 'outcome', 'finished_at')
  redis.call('PERSIST', tracker)
  redis.call('HSET', tracker, 'until', until_state, 'expires_at', now + expires_in, 'expires_in', expires_in)
  redis.call('ZADD', due, now + first_delay, member_of(id))
  redis.call('HINCRBY', active, group_of(id), 1)
  redis.call('HINCRBY', stats, 'reopened', 1)
  count_active(stats, id, state, 1)
  emit(tracker, events, maxlen, id, state, state, raw, 'active', now, KEYS[7], KEYS[8], KEYS[9], bound)
  return settle_if_reached('reopened')
end
if state then
  -- no outcome field while active: it is written when the tracker ends
  if current[1] then
    return {'finished', current[1], ''}
  end
  -- The same request again (a producer's retry) changes nothing; a new target or a new
  -- expires_in updates the tracker, and the later deadline wins.
  if current[2] == until_state and tonumber(current[6]) == expires_in then
    return {'unchanged', 'active', early}
  end
  local expires_at = math.max(tonumber(current[3]), now + expires_in)
  redis.call('HSET', tracker, 'until', until_state, 'expires_at', expires_at, 'expires_in', expires_in)
  return settle_if_reached('updated')
end

redis.call('HSET', tracker, 'state', 'pending', 'raw_state', '',
  'until', until_state, 'expires_at', now + expires_in, 'expires_in', expires_in, 'created_at', now,
  'checks', 0)
for i = 12, #ARGV, 2 do
  redis.call('HSET', tracker, ARGV[i], ARGV[i + 1])
end
redis.call('ZADD', due, now + first_delay, member_of(id))
redis.call('HINCRBY', active, group_of(id), 1)
count_active(stats, id, 'pending', 1)
return {'created', 'active', early}
