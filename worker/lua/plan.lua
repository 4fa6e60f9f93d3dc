-- plan: reserve start times for N checks of one credential, one spacing apart.
--
-- The dispatcher hands out a credential's checks with countdowns from these slots, so
-- they reach the limiter already spaced; two dispatchers never hand out the same slot.
--
-- KEYS[1] plan        {ns}:v1:plan:{credential}  STRING: end of the planned slots, epoch µs
-- ARGV[1] spacing_us  spacing between two checks, µs
-- ARGV[2] slots       how many slots to reserve
--
-- Returns {the first slot's offset from now, µs (0 when the credential is idle),
--          the first slot, epoch µs (a string)}.
local spacing, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local start = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local finish = start + count * spacing
redis.call('SET', KEYS[1], string.format('%d', finish), 'PX', math.ceil((finish - now) / 1000) + 1000)
return {math.floor(start - now), string.format('%d', start)}
