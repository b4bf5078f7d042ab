-- settings.lua: reads a queue's settings, copies them onto a new partition of
-- it, marks a partition retired (see Broker.SetPartitions), or sets one of
-- the queue's plain settings.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] 'get', 'set', 'budget', 'cap', 'ttl', 'expiry', 'admit',
--         'backlog', 'share' or 'retire'
-- get returns {limit, then each field of COPIED below, n, facet, priority,
--   ... (n pairs), m, facet, in-flight limit, ... (m pairs), facet, rate
--   limit, ...}: what 'set' takes in ARGV[3..]; '' for an unset field.
-- set replaces the in-flight limit, the fields of COPIED, and every facet's
--   priority, in-flight limit and rate limit with those given. Returns 1.
-- budget, cap, ttl and expiry set one field to ARGV[3], or remove it when
--   ARGV[3] is '': the budget of deliveries enqueue.lua gives a message
--   whose delivery sets none (cfg.attempts), the most messages of the queue
--   leased at once (cfg.cap), the default TTL (ms) of such deliveries
--   (cfg.ttl), and the policy for expired messages (cfg.expiry, 'drop' or
--   absent). Returns 1.
-- admit sets one part of admission control (cfg.admit, see admission_of in
--   lib.lua): ARGV[3] 'facet' (the default backlog cap of a facet, ARGV[4],
--   '0' for none), 'queue' (the queue's cap, '0' for none) or 'policy'
--   ('refuse' or 'drop'). Returns 1.
-- backlog gives facet ARGV[3] a backlog cap of its own, ARGV[4] ('0': none,
--   whatever the queue's default), or removes it when ARGV[4] is ''.
--   Returns 1.
-- retire marks the queue as a partition that new deliveries no longer go
--   to, which pull reports so that pullers reload the registry, and records
--   when on this node's clock (TIME), which drop_drained measures
--   Config.DrainGrace from. Retiring again keeps the first time. Returns 1.
-- share records ARGV[3] "<i>;<k>": the queue is partition i of k, and holds
--   that share of the dead-letter cap (see dead_cap in lib.lua). Returns 1.
-- Every op returns -1 when the queue does not exist.
local R = rate_lib()
-- The plain fields of cfg a new partition copies, in the order get answers
-- them and set takes them.
local COPIED = {F_PAUSED, F_RATE, F_ATTEMPTS, F_ORDERED, F_CAP, F_QRATE, F_TTL, F_EXPIRY, F_ADMIT}
-- The hashes of per-facet settings copied as counted pairs (rates follow
-- them, uncounted, to the end).
local PER_FACET = {K_PRIO, K_LIMITS, K_BACKLOGS}
local limit = redis.call('HGET', K_CFG, F_LIMIT)
if not limit then return -1 end
local op = ARGV[2]
-- set_field sets field of cfg to v, or removes it when v is ''.
local function set_field(field, v)
  if v == '' then
    redis.call('HDEL', K_CFG, field)
  else
    redis.call('HSET', K_CFG, field, v)
  end
end
local ONE = {budget = F_ATTEMPTS, cap = F_CAP, ttl = F_TTL, expiry = F_EXPIRY}
if op == 'get' then
  local out = {limit}
  for _, v in ipairs(redis.call('HMGET', K_CFG, unpack(COPIED))) do out[#out + 1] = v or '' end
  for _, k in ipairs(PER_FACET) do
    local fields = redis.call('HGETALL', k)
    out[#out + 1] = tostring(#fields / 2)
    for _, v in ipairs(fields) do out[#out + 1] = v end
  end
  for _, v in ipairs(redis.call('HGETALL', R.RATES)) do out[#out + 1] = v end
  return out
elseif ONE[op] then
  set_field(ONE[op], ARGV[3])
  mark_layers()
  -- A cap raised or removed may let idle workers lease more.
  if op == 'cap' then redis.call('PUBLISH', WAKE, '') end
  return 1
elseif op == 'admit' or op == 'backlog' then
  local A = admission_of(redis.call('HGET', K_CFG, F_ADMIT) or '') or {facet = 0, queue = 0, drop = false}
  if op == 'backlog' then
    if ARGV[4] == '' then
      redis.call('HDEL', K_BACKLOGS, ARGV[3])
    else
      redis.call('HSET', K_BACKLOGS, ARGV[3], ARGV[4])
    end
  elseif ARGV[3] == 'facet' then
    A.facet = tonumber(ARGV[4])
  elseif ARGV[3] == 'queue' then
    A.queue = tonumber(ARGV[4])
  else
    A.drop = ARGV[4] == 'drop'
  end
  local own = redis.call('EXISTS', K_BACKLOGS)
  if A.facet == 0 and A.queue == 0 and not A.drop and own == 0 then
    redis.call('HDEL', K_CFG, F_ADMIT)
  else
    redis.call('HSET', K_CFG, F_ADMIT, string.format('%d;%d;%s;%d', A.facet, A.queue, A.drop and 'drop' or 'refuse', own))
  end
  mark_layers()
  return 1
elseif op == 'share' then
  redis.call('HSET', K_CFG, F_SHARE, ARGV[3])
  return 1
elseif op == 'retire' then
  redis.call('HSETNX', K_CFG, F_RETIRED, now_ms())
  return 1
end
-- set: only ever on a partition that holds no messages yet, so no turn in
-- its ring, and no in-flight count, needs to change with the settings.
redis.call('HSET', K_CFG, F_LIMIT, ARGV[3])
redis.call('HDEL', K_CFG, F_RATED, F_RETIRED, F_QTAT, F_OWN_LIMITS)
for i, field in ipairs(COPIED) do set_field(field, ARGV[3 + i]) end
redis.call('DEL', R.RATES, unpack(PER_FACET))
local i = 4 + #COPIED
for _, k in ipairs(PER_FACET) do
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    redis.call('HSET', k, ARGV[i], ARGV[i + 1])
    i = i + 2
  end
end
while i + 1 <= #ARGV do
  redis.call('HSET', R.RATES, ARGV[i], ARGV[i + 1])
  i = i + 2
end
if redis.call('EXISTS', K_LIMITS) == 1 then redis.call('HSET', K_CFG, F_OWN_LIMITS, 1) end
mark_layers()
if redis.call('HEXISTS', K_CFG, F_RATE) == 1 or redis.call('HEXISTS', K_CFG, F_QRATE) == 1 or
   redis.call('EXISTS', R.RATES) == 1 then
  redis.call('HSET', K_CFG, F_RATED, 1)
end
return 1
