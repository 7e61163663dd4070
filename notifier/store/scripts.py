"""The Lua scripts. Each runs atomically; every key it touches shares the prefix's hash tag.

They are loaded by ``connection.StoreBase`` (EVALSHA, reloaded after a failover or a
SCRIPT FLUSH) and run by the modules that own their job.
"""

from __future__ import annotations

# The one rule for queueing an event for a sink, shared by every script that queues: not
# when it is already queued, delivered (its idempotency record) or a dead letter.
_QUEUE_UNLESS_SEEN = """
local function queue_unless_seen(outbox, payload, done, dead, now, id, record)
  if redis.call('ZSCORE', done, id) or redis.call('ZSCORE', outbox, id)
      or redis.call('HEXISTS', dead, id) == 1 then
    return 0
  end
  redis.call('ZADD', outbox, now, id)
  redis.call('HSET', payload, id, record)
  return 1
end
"""

ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  if string.sub(cur, sep + 1) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(cur, 1, sep - 1))
  end
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. '|' .. ARGV[1], 'PX', ARGV[2])
return token
"""

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS: lease, meta, then per date (snap, answers, then per index: staged, final), then
#       per sink (outbox, payload, done, dead)
# ARGV: lease value, now ms, ttl s, n_dates, n_sinks, n_meta, meta pairs...,
#       per date: n_snap, pairs..., n_answers, pairs..., n_index;
#       per sink: n_events, (id, record)...
# Hash pairs go to Redis in HSETs of up to 1,000 pairs rather than one call per pair: a
# baseline of 100,000 snapshots is then 100 calls into Redis instead of 100,000.
# Call indexes (megabytes each) arrive as staged keys SET in the same MULTI/EXEC: they are
# renamed into place here, once the lease is checked, instead of passing through Lua.
COMMIT = (
    _QUEUE_UNLESS_SEEN
    + """
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('LEASELOST the poll lease is held by another replica')
end
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local n_dates, n_sinks, n_meta = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local function hset_pairs(key, first, n)
  local done = 0
  while done < n do
    local m = math.min(n - done, 1000)
    local from = first + 2 * done
    redis.call('HSET', key, unpack(ARGV, from, from + 2 * m - 1))
    done = done + m
  end
end
-- Find every date's parts first, and check the staged indexes exist: nothing is written
-- unless the whole commit can be.
local dates = {}
local a, k = 7 + 2 * n_meta, 3
for d = 1, n_dates do
  local date = {snap = KEYS[k], answers = KEYS[k + 1]}
  date.n_snap = tonumber(ARGV[a])
  date.snap_at = a + 1
  a = a + 1 + 2 * date.n_snap
  date.n_answers = tonumber(ARGV[a])
  date.answers_at = a + 1
  a = a + 1 + 2 * date.n_answers
  date.n_index = tonumber(ARGV[a])
  date.index_at = k + 2
  a = a + 1
  for i = 0, date.n_index - 1 do
    if redis.call('EXISTS', KEYS[date.index_at + 2 * i]) == 0 then
      return redis.error_reply('ERR staged call index missing: ' .. KEYS[date.index_at + 2 * i])
    end
  end
  k = k + 2 + 2 * date.n_index
  dates[d] = date
end
hset_pairs(KEYS[2], 7, n_meta)
for _, date in ipairs(dates) do
  hset_pairs(date.snap, date.snap_at, date.n_snap)
  hset_pairs(date.answers, date.answers_at, date.n_answers)
  for i = 0, date.n_index - 1 do
    local final = KEYS[date.index_at + 2 * i + 1]
    redis.call('RENAME', KEYS[date.index_at + 2 * i], final)
    redis.call('EXPIRE', final, math.min(ttl, 86400))
  end
  if date.n_snap + date.n_answers + date.n_index > 0 then
    redis.call('EXPIRE', date.snap, ttl)
    redis.call('EXPIRE', date.answers, ttl)
  end
end
local queued = 0
for s = 1, n_sinks do
  local outbox, payload, done, dead = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  local n = tonumber(ARGV[a])
  a = a + 1
  for i = 1, n do
    queued = queued + queue_unless_seen(outbox, payload, done, dead, now, ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  k = k + 4
end
return queued
"""
)

# Take up to ``limit`` due events, hiding each for the visibility timeout and tagging it
# with its owner (one delivery attempt of one replica), so that only that owner extends,
# fails or hands it back.
# KEYS: outbox, payload, done, owners. ARGV: now ms, visibility timeout ms, limit, owner
TAKE = """
local now = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  if redis.call('ZSCORE', KEYS[3], id) then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[4], id)
  else
    local record = redis.call('HGET', KEYS[2], id)
    if record then
      redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), id)
      redis.call('HSET', KEYS[4], id, ARGV[4])
      out[#out + 1] = id
      out[#out + 1] = record
    else
      redis.call('ZREM', KEYS[1], id)
      redis.call('HDEL', KEYS[4], id)
    end
  end
end
return out
"""

# Push the due time of the events this owner still holds; return the ids it lost (taken
# by another replica after its visibility timeout ran out, or already settled).
# KEYS: outbox, owners. ARGV: due ms, owner, ids...
EXTEND = """
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], id) and redis.call('HGET', KEYS[2], id) == ARGV[2] then
    redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[1]), id)
  else
    lost[#lost + 1] = id
  end
end
return lost
"""

# KEYS: outbox, payload, done, owners. ARGV: now ms, keep ms, ids...
ACK = """
local now = tonumber(ARGV[1])
for i = 3, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
  redis.call('HDEL', KEYS[4], ARGV[i])
  redis.call('ZADD', KEYS[3], now, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[2]))
return #ARGV - 2
"""

# A failed attempt, recorded only by the event's current owner: a replica that stalled
# past its visibility timeout must not reschedule an event another replica now holds.
# KEYS: outbox, payload, dead, owners. ARGV: id, due ms or 'dead', record, owner
FAIL = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
if redis.call('HGET', KEYS[4], ARGV[1]) ~= ARGV[4] then return 0 end
redis.call('HDEL', KEYS[4], ARGV[1])
if ARGV[2] == 'dead' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
else
  redis.call('ZADD', KEYS[1], 'XX', tonumber(ARGV[2]), ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
end
return 1
"""

# KEYS: outbox, payload, dead. ARGV: now ms, ids... (none: all)
REPLAY = """
local ids = {}
if #ARGV > 1 then
  for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('HKEYS', KEYS[3])
end
local n = 0
for _, id in ipairs(ids) do
  local letter = redis.call('HGET', KEYS[3], id)
  if letter then
    local event = cjson.decode(letter)['event']
    redis.call('HSET', KEYS[2], id, cjson.encode({event = event, attempts = 0}))
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), id)
    redis.call('HDEL', KEYS[3], id)
    n = n + 1
  end
end
return n
"""

# KEYS: pace key. ARGV: now ms, interval ms. Returns ms to wait before sending.
PACE = """
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], slot + interval, 'PX', slot - now + interval * 10)
return slot - now
"""

# Queue events outside a cycle (Slack message updates, callback events): the commit's
# per-sink step, for one sink.
# KEYS: outbox, payload, done, dead. ARGV: now ms, (id, record)...
ENQUEUE = (
    _QUEUE_UNLESS_SEEN
    + """
local now, queued = tonumber(ARGV[1]), 0
for i = 2, #ARGV, 2 do
  queued = queued + queue_unless_seen(KEYS[1], KEYS[2], KEYS[3], KEYS[4], now, ARGV[i], ARGV[i + 1])
end
return queued
"""
)

# Drop dead letters that failed before a cutoff; returns how many.
# KEYS: dead. ARGV: cutoff (epoch seconds)
PRUNE_DEAD = """
local cutoff, dropped = tonumber(ARGV[1]), 0
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local ok, letter = pcall(cjson.decode, flat[i + 1])
  local at = ok and tonumber(letter['failed_at']) or 0
  if at < cutoff then
    redis.call('HDEL', KEYS[1], flat[i])
    dropped = dropped + 1
  end
end
return dropped
"""

# Compare-and-set a claim and queue its events, atomically.
# KEYS: the callback hash, then outbox, payload, done, dead per sink.
# ARGV: expected status, user, at ('' = absent); new status, user, at; ttl s; now ms;
#       m, then m (field, value) pairs to set; k, then k pairs to set only if absent;
#       then per sink: n, then n (id, record).
# Returns 1 when the claim moved, 0 when the stored state was not the expected one.
TRANSITION = (
    _QUEUE_UNLESS_SEEN
    + """
local cur_s = redis.call('HGET', KEYS[1], 'status') or 'unclaimed'
local cur_u = redis.call('HGET', KEYS[1], 'user') or ''
local cur_a = redis.call('HGET', KEYS[1], 'at') or ''
if cur_s ~= ARGV[1] or cur_u ~= ARGV[2] or cur_a ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[4])
if ARGV[5] == '' then redis.call('HDEL', KEYS[1], 'user')
else redis.call('HSET', KEYS[1], 'user', ARGV[5]) end
if ARGV[6] == '' then redis.call('HDEL', KEYS[1], 'at')
else redis.call('HSET', KEYS[1], 'at', ARGV[6]) end
local i = 10
for _ = 1, tonumber(ARGV[9]) do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local once = tonumber(ARGV[i])
i = i + 1
for _ = 1, once do
  redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[7]))
local now = tonumber(ARGV[8])
for s = 0, (#KEYS - 1) / 4 - 1 do
  local outbox, payload, done, dead = KEYS[2 + 4 * s], KEYS[3 + 4 * s], KEYS[4 + 4 * s],
    KEYS[5 + 4 * s]
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    queue_unless_seen(outbox, payload, done, dead, now, ARGV[i], ARGV[i + 1])
    i = i + 2
  end
end
return 1
"""
)


# Add requests to their numbers' sorted sets (NX: a request keeps its first score).
# KEYS: number keys. ARGV: ttl s, then per key: n, then n (score, member).
REGISTER = """
local a = 2
for k = 1, #KEYS do
  local n = tonumber(ARGV[a])
  a = a + 1
  local args = {}
  for _ = 1, n do
    args[#args + 1] = ARGV[a]
    args[#args + 1] = ARGV[a + 1]
    a = a + 2
  end
  redis.call('ZADD', KEYS[k], 'NX', unpack(args))
  redis.call('EXPIRE', KEYS[k], tonumber(ARGV[1]))
end
return #KEYS
"""
