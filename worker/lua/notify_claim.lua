-- notify_claim: take up to N trackers whose next delivery is due, each pushed a lease ahead
-- so no other dispatch hands it out meanwhile (notify_begin takes the delivery's own lease).
--
-- KEYS[1] notify    delivery schedule  {ns}:v1:notify:due   ZSET tracker id -> next attempt, ms
-- ARGV[1] limit     how many at most
-- ARGV[2] lease_ms  a tracker handed out comes due again after this long, so a delivery lost
--                   with its worker or its task message is tried again
--
-- Returns the tracker ids, most overdue first.
local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local chunk = {}
for i, id in ipairs(ids) do
  chunk[#chunk + 1] = now + tonumber(ARGV[2])
  chunk[#chunk + 1] = id
  if #chunk >= 1000 or i == #ids then
    redis.call('ZADD', KEYS[1], 'XX', unpack(chunk))
    chunk = {}
  end
end
return ids
