-- notify_slot: a place for one delivery to a callback host, within its fleet-wide caps:
-- at most N under way at once, and starts paced one interval apart.
--
-- KEYS[1] busy  deliveries under way  {ns}:v1:notify:busy:{target}  ZSET token -> lease end, ms
-- KEYS[2] pace  next start allowed    {ns}:v1:notify:pace:{target}  STRING epoch µs
-- ARGV[1] token           the delivery's lease token
-- ARGV[2] lease_ms        how long its place holds unless released (notify_done)
-- ARGV[3] concurrency     N
-- ARGV[4] interval_us     the pace
--
-- Returns 0 (go: the place is taken) or how many ms to wait.
local busy, pace = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = math.floor(now_us / 1000)
redis.call('ZREMRANGEBYSCORE', busy, '-inf', now)
if redis.call('ZCARD', busy) >= tonumber(ARGV[3]) then return 50 end
local interval = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', pace) or '0')
if tat > now_us then return math.ceil((tat - now_us) / 1000) end
local next_tat = math.max(tat, now_us - interval) + interval
redis.call('SET', pace, string.format('%d', next_tat), 'PX', math.ceil(interval / 1000) + 1000)
redis.call('ZADD', busy, now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', busy, tonumber(ARGV[2]) * 2)
return 0
