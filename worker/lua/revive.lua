-- revive: an account whose pushes stopped polls again: its trackers scheduled far ahead (the
-- safety net) come due within `soon_ms`, spread over it; then the account is no longer
-- marked pushing. At most `limit` trackers a call (the rest at the next call).
--
-- KEYS[1] pushed   pushing accounts {ns}:v1:push:seen   HASH "provider:account" -> its last push, ms
-- KEYS[2] due      due schedule     {ns}:v1:due:{provider}:{account}
-- ARGV[1] group    "provider:account"
-- ARGV[2] live_ms  an account that pushed within this long still counts as pushing: left alone
-- ARGV[3] soon_ms  trackers due later than this from now are brought within it
-- ARGV[4] limit    the most trackers moved by this call
--
-- Returns the number of trackers brought forward (-1: the account pushes again, or is not marked).
local wrong = check_types({[KEYS[1]] = 'hash', [KEYS[2]] = 'zset'})
if wrong then return wrong end
local now = now_ms()
local last = redis.call('HGET', KEYS[1], ARGV[1])
if not last or now - tonumber(last) < tonumber(ARGV[2]) then return -1 end
local soon, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local later = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. (now + soon), '+inf', 'LIMIT', 0, limit)
for i, member in ipairs(later) do
  redis.call('ZADD', KEYS[2], 'XX', now + math.floor(soon * i / #later), member)
end
if #later < limit then redis.call('HDEL', KEYS[1], ARGV[1]) end
return #later
