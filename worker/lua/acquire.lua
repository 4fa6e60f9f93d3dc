-- acquire: one request's worth of every bucket of a credential, or how long to wait.
--
-- GCRA with no burst: each bucket keeps its "theoretical arrival time" (TAT, epoch µs);
-- a request is allowed when every bucket's TAT is not in the future, and then each TAT
-- moves one emission interval ahead. So grants of one bucket are at least one interval
-- apart, and any one-second window holds at most (1 s / interval) of them.
--
-- KEYS[1] pause flag     {ns}:v1:pause:{credential}  set while the account is paused
-- KEYS[2] cool-down flag {ns}:v1:cool:{credential}   set after a 429, for Retry-After
-- KEYS[3..] buckets      {ns}:v1:rate:{credential}:{bucket}   TAT, epoch µs
-- ARGV[i] emission interval of bucket KEYS[i + 2], µs
--
-- Returns {allowed (1|0), retry_after_ms, reason ("ok"|"paused"|"cooldown"|"rate"),
--          grant time (epoch µs, as a string; "" when denied)}.
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then return {0, paused, 'paused', ''} end
local cooling = redis.call('PTTL', KEYS[2])
if cooling > 0 then return {0, cooling, 'cooldown', ''} end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait, next_tat = 0, {}
for i = 3, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat > now + wait then wait = tat - now end
  next_tat[i] = math.max(tat, now) + tonumber(ARGV[i - 2])
end
if wait > 0 then
  return {0, math.ceil(wait / 1000), 'rate', ''}
end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], string.format('%d', next_tat[i]), 'PX', math.ceil((next_tat[i] - now) / 1000) + 1000)
end
return {1, 0, 'ok', string.format('%d', now)}
