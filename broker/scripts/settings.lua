-- settings.lua: reads a queue's settings, copies them onto a new partition of
-- it, marks a partition retired (see Broker.SetPartitions), or sets the
-- queue's global concurrency cap.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] 'get', 'set', 'budget', 'cap', 'share' or 'retire'
-- get returns {limit, paused, rate, attempts, ordered, cap, qrate, n,
--   facet, priority, ... (n pairs), m, facet, in-flight limit, ... (m
--   pairs), facet, rate limit, ...}: what 'set' takes in ARGV[3..]; '' for
--   an unset field.
-- set replaces the in-flight limit, pause, default rate limit, default
--   budget, strict order, global cap, queue rate limit, and every facet's
--   priority, in-flight limit and rate limit with those given. Returns 1.
-- budget sets the budget of deliveries enqueue.lua gives a message whose
--   delivery sets none to ARGV[3] (cfg.attempts), or removes it when
--   ARGV[3] is ''. Returns 1.
-- cap sets the most messages of the queue leased at once to ARGV[3]
--   (cfg.cap), or removes the cap when ARGV[3] is ''. Returns 1.
-- retire marks the queue as a partition that new deliveries no longer go
--   to, which pull reports so that pullers reload the registry, and records
--   when on this node's clock (TIME), which drop_drained measures
--   Config.DrainGrace from. Retiring again keeps the first time. Returns 1.
-- share records ARGV[3] "<i>;<k>": the queue is partition i of k, and holds
--   that share of the dead-letter cap (see dead_cap in lib.lua). Returns 1.
-- Every op returns -1 when the queue does not exist.
local R = rate_lib()
local cfg = redis.call('HMGET', K_CFG, F_LIMIT, F_PAUSED, F_RATE, F_ATTEMPTS, F_ORDERED, F_CAP, F_QRATE)
if not cfg[1] then return -1 end
local op = ARGV[2]
if op == 'get' then
  local out = {cfg[1]}
  for i = 2, 7 do out[i] = cfg[i] or '' end
  for _, k in ipairs({K_PRIO, K_LIMITS}) do
    local pairs_ = redis.call('HGETALL', k)
    out[#out + 1] = tostring(#pairs_ / 2)
    for _, v in ipairs(pairs_) do out[#out + 1] = v end
  end
  for _, v in ipairs(redis.call('HGETALL', R.RATES)) do out[#out + 1] = v end
  return out
elseif op == 'budget' or op == 'cap' then
  local field = op == 'budget' and F_ATTEMPTS or F_CAP
  if ARGV[3] == '' then
    redis.call('HDEL', K_CFG, field)
  else
    redis.call('HSET', K_CFG, field, ARGV[3])
  end
  -- A cap raised or removed may let idle workers lease more.
  if op == 'cap' then redis.call('PUBLISH', WAKE, '') end
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
redis.call('HDEL', K_CFG, F_PAUSED, F_RATE, F_RATED, F_RETIRED, F_ATTEMPTS,
  F_ORDERED, F_CAP, F_QRATE, F_QTAT, F_OWN_LIMITS)
local fields = {F_PAUSED, F_RATE, F_ATTEMPTS, F_ORDERED, F_CAP, F_QRATE}
for i, field in ipairs(fields) do
  if ARGV[3 + i] ~= '' then redis.call('HSET', K_CFG, field, ARGV[3 + i]) end
end
redis.call('DEL', K_PRIO, K_LIMITS, R.RATES)
local i = 10
for _, k in ipairs({K_PRIO, K_LIMITS}) do
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
if ARGV[5] ~= '' or ARGV[9] ~= '' or redis.call('EXISTS', R.RATES) == 1 then
  redis.call('HSET', K_CFG, F_RATED, 1)
end
return 1
