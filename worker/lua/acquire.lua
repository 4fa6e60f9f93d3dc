-- acquire: one request's worth of every bucket of a credential, or how long to wait.
--
-- Two rules per bucket of limit K per window W (W is the limit's period widened by the
-- limiter's margin):
--
--   hard  an exact sliding window: a grant is allowed only if the K-th most recent grant
--         is at least W old, so every window of length W holds at most K grants, whatever
--         the callers do.
--   pace  GCRA on a grid of T = W / K: requests are spread one interval apart instead of
--         in bursts. A request up to `early` before its slot is let through (the hard rule
--         still holds), and a request that arrives late (up to `late`) does not push the
--         grid back by its lateness: the slots it missed are made up by the next requests,
--         so a fleet that is often a little late still gets the whole limit.
--
-- KEYS[1] pause      pause flag      {ns}:v1:pause:{credential}   set while the account is paused
-- KEYS[2] cooldown   cool-down flag  {ns}:v1:cool:{credential}    set after a 429, for Retry-After
-- KEYS[3..] buckets  per bucket, two keys:
--   {ns}:v1:rate:{credential}:{bucket}     STRING  next slot on the grid (TAT), epoch µs
--   {ns}:v1:grants:{credential}:{bucket}   LIST    the last K grant times, newest first
--
-- A check the dispatcher planned carries its slot (see plan.lua): planned slots are
-- already one interval apart, so in a bucket with a log such a check is paced by its own
-- slot, not by the grid, which requests nobody planned (retries, re-sent checks) move on.
-- Otherwise every unplanned grant would leave each later planned check one interval
-- "early" and denied. It still moves the grid on, so unplanned requests keep their pace.
-- Checks that come late to their slots (workers behind) catch up as fast as the log
-- lets them; one more than a window past its slot (a message redelivered after a lease,
-- a worker far behind) is paced by the grid like any unplanned request.
--
-- ARGV[1..] buckets    per bucket, five numbers: K (0: no log, pacing alone holds the
--                      limit), W (µs), T (µs), early (µs), late (µs)
-- ARGV[5n+1] slot_us   the planned slot, epoch µs (0: not planned); n buckets
--
-- Returns {allowed (1|0), retry_after_ms, reason ("ok"|"paused"|"cooldown"|"rate"),
--          grant time (epoch µs, as a string; "" when denied),
--          early (1: a planned check came before its own slot, and the log will have room
--          by then; 0 otherwise)}.
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then return {0, paused, 'paused', '', 0} end
local cooling = redis.call('PTTL', KEYS[2])
if cooling > 0 then return {0, cooling, 'cooldown', '', 0} end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = (#KEYS - 2) / 2
local slot = tonumber(ARGV[5 * n + 1] or '0')
local wait, log_wait, by_slot, tats = 0, 0, false, {}
for b = 1, n do
  local tat_key, log_key = KEYS[1 + 2 * b], KEYS[2 + 2 * b]
  local k, window = tonumber(ARGV[5 * b - 4]), tonumber(ARGV[5 * b - 3])
  local early = tonumber(ARGV[5 * b - 1])
  local tat = tonumber(redis.call('GET', tat_key) or '0')
  tats[b] = tat
  local due = tat
  if slot > 0 and k > 0 and now - slot <= window then
    due = slot
    by_slot = true
  end
  if due - early - now > wait then wait = due - early - now end
  if k > 0 then
    local kth = redis.call('LINDEX', log_key, k - 1)
    if kth and tonumber(kth) + window - now > log_wait then log_wait = tonumber(kth) + window - now end
  end
end
if wait > 0 or log_wait > 0 then
  local early = (by_slot and wait >= log_wait) and 1 or 0
  return {0, math.ceil(math.max(wait, log_wait) / 1000), 'rate', '', early}
end
local stamp = string.format('%d', now)
for b = 1, n do
  local tat_key, log_key = KEYS[1 + 2 * b], KEYS[2 + 2 * b]
  local k, window, interval = tonumber(ARGV[5 * b - 4]), tonumber(ARGV[5 * b - 3]), tonumber(ARGV[5 * b - 2])
  -- on the grid (early, or late by up to `late`): the next slot; after an idle spell: now + T
  local next_tat = tats[b] + interval
  if now - tats[b] > tonumber(ARGV[5 * b]) then next_tat = now + interval end
  -- a planned grant: the grid moves to one interval past it, never back
  if slot > 0 and k > 0 and now - slot <= window then
    next_tat = math.max(tats[b], math.max(now, slot) + interval)
  end
  redis.call('SET', tat_key, string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
  if k > 0 then
    redis.call('LPUSH', log_key, stamp)
    redis.call('LTRIM', log_key, 0, k - 1)
    redis.call('PEXPIRE', log_key, math.ceil(window / 1000) + 1000)
  end
end
return {1, 0, 'ok', stamp, 0}
