-- settings.lua: reads a queue's settings, copies them onto a new partition of
-- it, or marks a partition retired (see Broker.SetPartitions).
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- ARGV[2] 'get', 'set', 'budget', 'ttl', 'expiry', 'share' or 'retire'
-- get returns {limit, paused, rate, attempts, ttl, expiry, n, facet,
--   priority, ... (n pairs), facet, rate limit, ...}: what 'set' takes in
--   ARGV[3..]; '' for an unset field.
-- set replaces the in-flight limit, pause, default rate limit, default
--   budget, default TTL, expiry policy, and every facet's priority and rate
--   limit with those given. Returns 1.
-- budget sets the budget of deliveries enqueue.lua gives a message whose
--   delivery sets none to ARGV[3] (cfg.attempts), or removes it when
--   ARGV[3] is ''. Returns 1.
-- ttl and expiry do the same for the default TTL (ms) of such deliveries
--   (cfg.ttl) and for the policy for expired messages (cfg.expiry, 'drop'
--   or absent). Returns 1.
-- retire marks the queue as a partition that new deliveries no longer go
--   to, which pull reports so that pullers reload the registry, and records
--   when on this node's clock (TIME), which drop_drained measures
--   Config.DrainGrace from. Retiring again keeps the first time. Returns 1.
-- share records ARGV[3] "<i>;<k>": the queue is partition i of k, and holds
--   that share of the dead-letter cap (see dead_cap in lib.lua). Returns 1.
-- Every op returns -1 when the queue does not exist.
local R = rate_lib()
local cfg = redis.call('HMGET', K_CFG, F_LIMIT, F_PAUSED, F_RATE, F_ATTEMPTS, F_TTL, F_EXPIRY)
if not cfg[1] then return -1 end
local op = ARGV[2]
-- set_field sets field of cfg to v, or removes it when v is ''.
local function set_field(field, v)
  if v == '' then
    redis.call('HDEL', K_CFG, field)
  else
    redis.call('HSET', K_CFG, field, v)
  end
end
if op == 'get' then
  local out = {cfg[1], cfg[2] or '', cfg[3] or '', cfg[4] or '', cfg[5] or '', cfg[6] or ''}
  local prio = redis.call('HGETALL', K_PRIO)
  out[#out + 1] = tostring(#prio / 2)
  for _, v in ipairs(prio) do out[#out + 1] = v end
  for _, v in ipairs(redis.call('HGETALL', R.RATES)) do out[#out + 1] = v end
  return out
elseif op == 'budget' then
  if ARGV[3] == '' then
    redis.call('HDEL', K_CFG, F_ATTEMPTS)
  else
    redis.call('HSET', K_CFG, F_ATTEMPTS, ARGV[3])
  end
  return 1
elseif op == 'ttl' then
  set_field(F_TTL, ARGV[3])
  return 1
elseif op == 'expiry' then
  set_field(F_EXPIRY, ARGV[3])
  return 1
elseif op == 'share' then
  redis.call('HSET', K_CFG, F_SHARE, ARGV[3])
  return 1
elseif op == 'retire' then
  redis.call('HSETNX', K_CFG, F_RETIRED, now_ms())
  return 1
end
-- set: only ever on a partition that holds no messages yet, so no turn in
-- its ring needs to change with the priorities.
redis.call('HSET', K_CFG, F_LIMIT, ARGV[3])
redis.call('HDEL', K_CFG, F_PAUSED, F_RATE, F_RATED, F_RETIRED, F_ATTEMPTS)
if ARGV[4] ~= '' then redis.call('HSET', K_CFG, F_PAUSED, ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', K_CFG, F_RATE, ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', K_CFG, F_ATTEMPTS, ARGV[6]) end
set_field(F_TTL, ARGV[7])
set_field(F_EXPIRY, ARGV[8])
redis.call('DEL', K_PRIO, R.RATES)
local n = tonumber(ARGV[9])
local i = 10
for _ = 1, n do
  redis.call('HSET', K_PRIO, ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i + 1 <= #ARGV do
  redis.call('HSET', R.RATES, ARGV[i], ARGV[i + 1])
  i = i + 2
end
if ARGV[5] ~= '' or redis.call('EXISTS', R.RATES) == 1 then
  redis.call('HSET', K_CFG, F_RATED, 1)
end
return 1
