-- prune: forget an account that has no active trackers left (housekeeping).
--
-- KEYS[1] active counts  {ns}:v1:active   HASH "provider:account" -> active trackers
-- KEYS[2] due schedule   {ns}:v1:due:{provider}:{account}
-- KEYS[3] in flight      {ns}:v1:inflight:{provider}:{account}
-- ARGV[1] "provider:account"
--
-- Returns 1 when the account was dropped, 0 when it still has trackers.
local count = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if count > 0 or redis.call('ZCARD', KEYS[2]) > 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
