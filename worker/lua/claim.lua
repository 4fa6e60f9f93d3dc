-- claim: take up to N due trackers of one account and lease them, atomically.
--
-- KEYS[1] due           due schedule  {ns}:v1:due:{provider}:{account}       ZSET msg_id -> next check, ms
-- KEYS[2] inflight      in flight     {ns}:v1:inflight:{provider}:{account}  ZSET msg_id -> claimed at, ms
-- ARGV[1] limit         how many to claim at most
-- ARGV[2] lease_ms      a claimed tracker comes due again by itself after this long, so a
--                       check lost with its worker is retried without anyone noticing the loss
-- ARGV[3] max_inflight  how many may be in flight (claimed, not yet observed) at once; -1 for
--                       no cap. Claims older than the lease no longer count: their checks are
--                       lost or late.
--
-- Returns the claimed members (msg_ids), most overdue first.
local due, inflight = KEYS[1], KEYS[2]
local limit, lease, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now - lease)
if cap >= 0 then
  limit = math.min(limit, cap - redis.call('ZCARD', inflight))
  if limit <= 0 then return {} end
end
local ids = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, limit)
local chunk, flying = {}, {}
for i, id in ipairs(ids) do
  chunk[#chunk + 1] = now + lease
  chunk[#chunk + 1] = id
  flying[#flying + 1] = now
  flying[#flying + 1] = id
  if #chunk >= 1000 or i == #ids then
    redis.call('ZADD', due, 'XX', unpack(chunk))
    redis.call('ZADD', inflight, unpack(flying))
    chunk, flying = {}, {}
  end
end
if #ids > 0 then redis.call('PEXPIRE', inflight, lease * 2) end
return ids
