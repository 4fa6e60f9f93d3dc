-- prune: repair an account's active count from its schedule, and forget the account when
-- it has no active tracker left (housekeeping).
--
-- Every active tracker has exactly one entry on its account's due schedule (register adds
-- it, finishing removes it, claiming only moves it), so the schedule's size is the count;
-- a count that drifted (a tracker hash lost to eviction, a script that failed) is set back
-- to it here.
--
-- KEYS[1] active    active counts  {ns}:v1:active   HASH "provider:account" -> active trackers
-- KEYS[2] due       due schedule   {ns}:v1:due:{provider}:{account}  ZSET msg_id -> next check, ms
-- KEYS[3] inflight  in flight      {ns}:v1:inflight:{provider}:{account}
-- ARGV[1] group     "provider:account"
--
-- Returns 1 when the account was dropped, 2 when its count was repaired, 0 otherwise.
local scheduled = redis.call('ZCARD', KEYS[2])
local count = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if scheduled > 0 then
  if count == scheduled then return 0 end
  redis.call('HSET', KEYS[1], ARGV[1], scheduled)
  return 2
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
