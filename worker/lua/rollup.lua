-- rollup: append one snapshot of the fleet counters per period, whoever asks first.
--
-- Two beats running housekeeping by mistake write one entry per period between them: the
-- period comes from the Redis clock and the last one written is kept in KEYS[3].
--
-- KEYS[1] stats          fleet counters  {ns}:v1:stats          HASH
-- KEYS[2] rollup         rollup stream   {ns}:v1:rollup         one entry per period: the counters then
-- KEYS[3] rollup_period  last period     {ns}:v1:rollup-period  STRING
-- ARGV[1] period_ms      the period, ms
-- ARGV[2] maxlen         stream MAXLEN (approximate)
--
-- Returns the entry id, or '' when this period's entry exists already.
local period = tonumber(ARGV[1])
local index = math.floor(now_ms() / period)
if tonumber(redis.call('GET', KEYS[3]) or '-1') >= index then return '' end
redis.call('SET', KEYS[3], string.format('%d', index))
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then fields = {'checks', '0'} end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'period', string.format('%d', index), unpack(fields))
