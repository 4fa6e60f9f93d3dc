-- observe: apply one check's result, or one push of the gateway, to a tracker, atomically.
-- Polling and push share this one monotonic step (docs/push.md).
--
-- KEYS[1] tracker   tracker hash    {ns}:v1:t:{provider}:{account}:{msg_id}
-- KEYS[2] due       due schedule    {ns}:v1:due:{provider}:{account}  ZSET msg_id -> next check, ms
-- KEYS[3] active    active counts   {ns}:v1:active   HASH "provider:account" -> active trackers
-- KEYS[4] events    events stream   {ns}:v1:events   one entry per real change
-- KEYS[5] stats     fleet counters  {ns}:v1:stats    HASH: "checks" += 1, "finished:<outcome>" += 1
-- KEYS[6] inflight  in flight       {ns}:v1:inflight:{provider}:{account}   the check is no longer in flight
-- KEYS[7] outbox    the tracker's outbox  {ns}:v1:outbox:{provider}:{account}:{msg_id}  LIST: events to deliver
-- KEYS[8] notify    delivery schedule     {ns}:v1:notify:due   ZSET tracker id -> next attempt, ms
-- KEYS[9] since     undelivered since     {ns}:v1:notify:since ZSET tracker id -> its oldest undelivered event, ms
-- KEYS[10] early    early pushes    {ns}:v1:push:early     HASH tracker id -> a push that came before its track request (JSON)
-- KEYS[11] early_at their ages     {ns}:v1:push:early-at  ZSET tracker id -> when it came, ms
-- KEYS[12] pushed   pushing accounts {ns}:v1:push:seen     HASH "provider:account" -> its last push, ms
-- ARGV[1]  tracker_id          "provider:account:msg_id"
-- ARGV[2]  observed            canonical state, '' when the raw value has no mapping
-- ARGV[3]  raw_state           the value as the gateway said it
-- ARGV[4]  has_observation     "1" when ARGV[2..3] hold an observation, "0" when the check got
--                              none (an error)
-- ARGV[5]  ceiling             the furthest state this provider can report
-- ARGV[6]  next_delay_ms       next check delay, ms, if the tracker stays active
-- ARGV[7]  retention_ms        of a finished tracker
-- ARGV[8]  events_maxlen       events MAXLEN
-- ARGV[9]  error               error text (already redacted), '' for none
-- ARGV[10] not_found           "1" when the gateway said the message does not exist (it fails
--                              the tracker only if no answer ever showed the message: see below)
-- ARGV[11] not_found_grace_ms  not-found grace, ms since the tracker was created
-- ARGV[12] detail              per-recipient detail, JSON, '' for none
-- ARGV[13] counts              counters to add to stats with this write, "field\tn" lines ('' for none)
-- ARGV[14] provider_ts         the gateway's own time of the change, epoch seconds, '' when it gave none
-- ARGV[15] outbox_ttl_ms       the outbox expires this long after its last event
-- ARGV[16] outbox_max          events an outbox holds at most (the oldest beyond are given up)
-- ARGV[17] source              "poll" (a check or a batch sync) or "push" (a webhook, a notification)
-- ARGV[18] reason              why a push ended the message (the gateway's description), '' for none
-- ARGV[19] early_ms            a push for a tracker not there yet is kept this long...
-- ARGV[20] early_max           ...and at most this many such pushes (the oldest dropped)
-- ARGV[21] live_ms             an account that pushed within this long counts as pushing...
-- ARGV[22] safety_ms           ...and a poll of it schedules the next one at least this far ahead
--
-- Returns {status, state, previous, outcome, changed}; status is "ok", or "gone" for a
-- tracker that no longer exists, or "finished" for one that had already ended, or "early"
-- for a push kept for a track request to come. A push does not count as a check (its
-- tracker's "pushes" does), leaves the in-flight claim alone, and marks its account pushing.
-- A push for a message nobody tracks yet: kept (the most advanced one per message, by the
-- same merge) until its track request comes, for early_ms, at most early_max in all; each
-- call drops at most 64 of those past either bound, so its work stays bounded.
local function keep_early(early, early_at, stats, id, observed, raw, why, ts, now, early_ms, early_max)
  local kept = redis.call('HGET', early, id)
  if kept then
    local old = cjson.decode(kept)
    if old.state ~= '' and (observed == '' or merge(old.state, observed) == old.state) then
      observed, raw, why, ts = old.state, old.raw, old.reason, old.provider_ts
    end
  end
  redis.call('HSET', early, id, cjson.encode({state = observed, raw = raw, reason = why, provider_ts = ts}))
  redis.call('ZADD', early_at, now, id)
  redis.call('HINCRBY', stats, 'push:early', 1)
  local gone = redis.call('ZRANGEBYSCORE', early_at, '-inf', now - early_ms, 'LIMIT', 0, 64)
  local over = redis.call('ZCARD', early_at) - #gone - early_max
  if over > 0 then
    for _, item in ipairs(redis.call('ZRANGE', early_at, #gone, #gone + math.min(over, 64) - 1)) do
      gone[#gone + 1] = item
    end
  end
  for _, item in ipairs(gone) do
    redis.call('HDEL', early, item)
    redis.call('ZREM', early_at, item)
  end
  if #gone > 0 then redis.call('HINCRBY', stats, 'push:early_dropped', #gone) end
end

local tracker, due, active, events, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, observed, raw, has_obs = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
local ceiling, delay, retention, maxlen = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local err, not_found, grace, detail = ARGV[9], ARGV[10] == '1', tonumber(ARGV[11]), ARGV[12]
local provider_ts, push, push_reason = ARGV[14], ARGV[17] == 'push', ARGV[18]
local wrong = check_tracker_keys() or check_types({[KEYS[10]] = 'hash', [KEYS[11]] = 'zset', [KEYS[12]] = 'hash'})
if wrong then return wrong end  -- before any write: nothing half-done
local now = now_ms()
add_counts(stats, ARGV[13])
if push then
  redis.call('HSET', KEYS[12], group_of(id), now)
else
  redis.call('ZREM', KEYS[6], member_of(id))
  local last = tonumber(ARGV[21]) > 0 and redis.call('HGET', KEYS[12], group_of(id))
  if last and now - tonumber(last) < tonumber(ARGV[21]) then delay = math.max(delay, tonumber(ARGV[22])) end
end

local t = redis.call('HMGET', tracker, 'state', 'raw_state', 'outcome', 'until', 'expires_at',
  'created_at', 'history', 'seen_at')
if not t[1] then
  if push then
    keep_early(KEYS[10], KEYS[11], stats, id, observed, raw, push_reason, provider_ts, now,
      tonumber(ARGV[19]), tonumber(ARGV[20]))
    return {'early', '', '', '', 0}
  end
  redis.call('ZREM', due, member_of(id))
  return {'gone', '', '', '', 0}
end
if push then
  redis.call('HDEL', KEYS[10], id)
  redis.call('ZREM', KEYS[11], id)
end
local previous, outcome = t[1], t[3] or 'active'  -- no outcome field while active
if outcome ~= 'active' then
  redis.call('ZREM', due, member_of(id))
  return {'finished', previous, previous, outcome, 0}
end

-- "Not found" fails a tracker (after the grace) only if the gateway has never shown its
-- message: once it answered about it (seen_at), or the state is past pending, "not found"
-- is the gateway's mistake or lag, and the tracker keeps checking until its deadline.
local reason = ''
local shown = t[8] or previous ~= 'pending'
if not_found and not shown and now - tonumber(t[6]) >= grace then
  observed, raw, has_obs, reason = 'failed', '', true, 'not_found'
end

local state = previous
if push then
  redis.call('HINCRBY', tracker, 'pushes', 1)
  if push_reason ~= '' and reason == '' then reason, err = push_reason, '' end
else
  redis.call('HINCRBY', tracker, 'checks', 1)
  redis.call('HINCRBY', stats, 'checks', 1)
end
if has_obs then
  state = merge(previous, observed)
  -- A stale answer (behind what we know) keeps the raw value that goes with the state.
  if state ~= previous or observed == '' or observed == previous then
    redis.call('HSET', tracker, 'raw_state', raw)
  else
    raw = t[2]
  end
  redis.call('HDEL', tracker, 'errors', 'error')
  if detail ~= '' then redis.call('HSET', tracker, 'detail', detail) end
  if (reason == '' or push) and not t[8] then redis.call('HSET', tracker, 'seen_at', now) end
else
  raw = t[2]
  redis.call('HINCRBY', tracker, 'errors', 1)
  redis.call('HSET', tracker, 'error', err)
end

local changed = state ~= previous
if changed then
  local entry = history_entry(state, raw, now - tonumber(t[6]))
  local history = t[7] and (t[7] .. ';' .. entry) or entry
  redis.call('HSET', tracker, 'state', state, 'history', history)
  count_active(stats, id, previous, -1)
  count_active(stats, id, state, 1)
  if reason ~= '' and TERMINAL[state] then
    redis.call('HSET', tracker, 'reason', reason)
    if err ~= '' then redis.call('HSET', tracker, 'error', err) end
  end
  -- the gateway's time goes with the state it came with
  if provider_ts ~= '' then
    redis.call('HSET', tracker, 'provider_ts', provider_ts)
  else
    redis.call('HDEL', tracker, 'provider_ts')
  end
end

if is_settled(state, t[4], ceiling) then
  outcome = 'settled'
elseif now >= tonumber(t[5]) then
  outcome = 'timed_out'
end
if outcome ~= 'active' then
  finish(tracker, due, active, stats, id, state, outcome, now, retention)
else
  redis.call('ZADD', due, math.min(now + delay, tonumber(t[5])), member_of(id))
end
if changed or outcome ~= 'active' then
  emit(tracker, events, maxlen, id, state, previous, raw, outcome, now, KEYS[7], KEYS[8], KEYS[9],
    {stats, ARGV[15], ARGV[16]})
end
return {'ok', state, previous, outcome, changed and 1 or 0}
