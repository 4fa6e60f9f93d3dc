-- notify_renew: push a delivery's lease (and its place at the host) a lease ahead, before
-- the part of an attempt the lease was sized for (the webhook: resolving and the exchange,
-- each bounded by the timeout) when another part (a callback task's publish) came first.
--
-- KEYS[1] delivery  delivery state         {ns}:v1:delivery:{tracker}   HASH lease, lease_until
-- KEYS[2] notify    delivery schedule      {ns}:v1:notify:due           ZSET tracker id -> next attempt, ms
-- KEYS[3] busy      the host's deliveries  {ns}:v1:notify:busy:{target} ZSET token -> lease end, ms
-- ARGV[1] tracker_id  "provider:account:msg_id"
-- ARGV[2] token       the lease token notify_begin took
-- ARGV[3] lease_ms    how long the lease holds from now
--
-- Returns 1 (renewed) or 0 (the lease is no longer this caller's: nothing written).
local delivery, notify, busy = KEYS[1], KEYS[2], KEYS[3]
local id, token, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HGET', delivery, 'lease') ~= token then return 0 end
local now = now_ms()
redis.call('HSET', delivery, 'lease_until', now + lease)
redis.call('ZADD', notify, 'XX', now + lease, id)
if redis.call('ZSCORE', busy, token) then
  redis.call('ZADD', busy, 'XX', now + lease, token)
  redis.call('PEXPIRE', busy, lease * 2)
end
return 1
