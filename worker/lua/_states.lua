-- Prelude prepended to every script (worker/scripts.py does the joining).
-- Mirrors worker/states.py: the progress order and the terminal set
-- (tests/unit/test_states.py proves the two agree).
local RANK = {pending = 0, sent = 1, delivered = 2, read = 3}
local TERMINAL = {failed = true, deleted = true, cancelled = true, expired = true}

local function rank(state)
  return RANK[state] or 4
end

-- Monotonic merge: '' (unmapped raw value) keeps the state; terminal states freeze.
local function merge(current, observed)
  if observed == '' or TERMINAL[current] then return current end
  if TERMINAL[observed] then return observed end
  if rank(observed) > rank(current) then return observed end
  return current
end

local function is_settled(state, until_state, ceiling)
  if TERMINAL[state] then return true end
  return rank(state) >= math.min(rank(until_state), rank(ceiling))
end

-- Refuses, before anything is written, keys of the wrong type (a key another program wrote,
-- or a half-migrated namespace): a script that failed halfway would leave a record without
-- its schedule or count. `types` maps key -> expected type ('none' is always fine).
local function check_types(types)
  for key, want in pairs(types) do
    local have = redis.call('TYPE', key)['ok']
    if have ~= 'none' and have ~= want then
      return redis.error_reply('WRONGTYPE statuswatch key ' .. key .. ' is a ' .. have .. ', not a ' .. want)
    end
  end
  return nil
end

-- check_types for the eight keys of a tracker script (register, untrack, observe, defer):
-- tracker hash, due schedule, active counts, events stream, fleet counters, in flight,
-- the tracker's outbox, the delivery schedule and the undelivered events' ages.
local function check_tracker_keys()
  return check_types({[KEYS[1]] = 'hash', [KEYS[2]] = 'zset', [KEYS[3]] = 'hash', [KEYS[4]] = 'stream',
    [KEYS[5]] = 'hash', [KEYS[6]] = 'zset', [KEYS[7]] = 'list', [KEYS[8]] = 'zset', [KEYS[9]] = 'zset'})
end

-- One clock for the whole fleet: the Redis server's, in epoch milliseconds.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- "provider:account:msg_id" -> "provider:account", the field of the active counter.
local function group_of(id)
  return string.match(id, '^([^:]*:[^:]*):')
end

-- "provider:account:msg_id" -> "msg_id": the member of the account's own due schedule.
local function member_of(id)
  return string.match(id, '^[^:]*:[^:]*:(.*)$')
end

-- One history entry, "state|raw|ms since created"; '|', ';' and '%' in raw are %-escaped.
local function history_entry(state, raw, since_ms)
  local escaped = string.gsub(raw, '[%%|;]', function(c) return string.format('%%%02X', string.byte(c)) end)
  return state .. '|' .. escaped .. '|' .. since_ms
end

-- Active trackers by provider and state, for the metrics: stats "active:<provider>:<state>".
local function count_active(stats, id, state, n)
  redis.call('HINCRBY', stats, 'active:' .. string.match(id, '^([^:]*):') .. ':' .. state, n)
end

-- Counters a caller adds with its write: "field\tn" lines (gateway requests, latencies).
local function add_counts(stats, payload)
  for field, n in string.gmatch(payload, '([^\t\n]+)\t(%-?%d+)') do
    redis.call('HINCRBY', stats, field, tonumber(n))
  end
end

-- Ends a tracker in `state`: out of the due schedule, off the active counts, counted,
-- kept for retention.
local function finish(tracker, due, active, stats, id, state, outcome, now, retention_ms)
  redis.call('HSET', tracker, 'outcome', outcome, 'finished_at', now)
  redis.call('HINCRBY', stats, 'finished:' .. outcome, 1)
  redis.call('ZREM', due, member_of(id))
  redis.call('HINCRBY', active, group_of(id), -1)
  count_active(stats, id, state, -1)
  redis.call('PEXPIRE', tracker, retention_ms)
end

-- One event (docs/contract.md, "Events"): on the events stream, and when the tracker has a
-- callback (callback_url or callback_task) also at the end of its outbox, with the tracker
-- on the delivery schedule (now, unless it is there already: a delivery under way or backing
-- off keeps its time, so the tracker's events go out in order) and, with the time of its
-- oldest undelivered event, on `since`. The outbox entry also carries the callbacks
-- ("callback": url, task, queue) the event is delivered to. The optional fields come
-- from the tracker hash as this call leaves it; absent ones are left out.
-- Returns the event id (the stream entry's id).
local EVENT_EXTRAS = {'reason', 'error', 'provider_ts', 'detail', 'meta'}

-- One event JSON onto a tracker's outbox, bounded: the outbox expires `ttl` ms after its last
-- event (the retention plus the retry time: by then each event was delivered or given up),
-- and holds at most `max` events, the oldest beyond that given up (counted in stats:
-- "notify:given_up" and "notify:overflowed"; `since` moves to the oldest left).
local function push_outbox(outbox, since, stats, ttl, max, id, entry)
  local n = redis.call('RPUSH', outbox, entry)
  redis.call('PEXPIRE', outbox, ttl)
  if n > max then
    redis.call('LTRIM', outbox, n - max, -1)
    redis.call('HINCRBY', stats, 'notify:given_up', n - max)
    redis.call('HINCRBY', stats, 'notify:overflowed', n - max)
    local head = cjson.decode(redis.call('LINDEX', outbox, 0))['event_id']
    redis.call('ZADD', since, tonumber(string.match(head, '^(%d+)')), id)
  end
end

-- `bound`: {stats key, outbox ttl ms, outbox max} (push_outbox)
local function emit(tracker, events, maxlen, id, state, previous, raw, outcome, now, outbox, notify, since, bound)
  local provider, account, msg_id = string.match(id, '^([^:]*):([^:]*):(.*)$')
  local fields = {'tracker', id, 'provider', provider, 'account', account, 'msg_id', msg_id,
    'state', state, 'previous', previous, 'raw_state', raw, 'outcome', outcome,
    'observed_at', string.format('%.3f', now / 1000)}
  local t = redis.call('HMGET', tracker, 'reason', 'error', 'provider_ts', 'detail', 'meta', 'callback_url',
    'callback_task', 'callback_queue')
  for i, name in ipairs(EVENT_EXTRAS) do
    if t[i] and t[i] ~= '' then
      fields[#fields + 1] = name
      fields[#fields + 1] = t[i]
    end
  end
  local event_id = redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', unpack(fields))
  if (t[6] and t[6] ~= '') or (t[7] and t[7] ~= '') then
    local event = {event_id = event_id}
    for i = 1, #fields, 2 do event[fields[i]] = fields[i + 1] end
    -- the callbacks the event is for, as they are now: it goes to them even if the tracker
    -- hash expires first or a later track of the same id names others
    event['callback'] = {url = t[6] or '', task = t[7] or '', queue = t[8] or ''}
    redis.call('ZADD', notify, 'NX', now, id)
    redis.call('ZADD', since, 'NX', now, id)
    push_outbox(outbox, since, bound[1], tonumber(bound[2]), tonumber(bound[3]), id, cjson.encode(event))
  end
  return event_id
end
