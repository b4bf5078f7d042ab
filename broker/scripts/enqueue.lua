-- enqueue.lua: queues messages on one queue, then publishes messages.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- KEYS[2] the call's replay marker (see lib.lua)
-- KEYS[3] optional: the registry's version key, read in the same call (only
--         where the deployment is not a Cluster: it is in another slot)
-- ARGV[1] wake channel
-- ARGV[2] how long the replay marker is kept (ms)
-- ARGV[3] the queue's pattern the producer routed the messages by
-- ARGV[4] m, how many publications follow
-- ARGV[5..4+2m] pairs: channel, body; published once the messages are
--           written (the producer has the last enqueue call of a delivery
--           publish), so a delivery Redis refuses (a full Redis) is heard of
--           by no subscriber; published too when the queue refused them for
--           its routing, which the producer then corrects
-- ARGV[5+2m..] four per message: id, facet, envelope, options. The
--           envelope holds the message's budget: its delivery's own, else
--           the producer's default (Config.MaxAttempts), which the queue's
--           default (cfg.attempts) replaces when it has one. Options are ''
--           for a message ready now without an idempotency key whose budget
--           is the producer's default; else "=" when its budget is its
--           delivery's own (no queue default replaces it), then
--           "+<ttl ms>;" when it has a TTL of its own (no queue default
--           replaces it either), then, when it is delayed or has a key,
--           "<delay ms>:<idempotency window ms>:<key>" (the key may be '',
--           the delay 0). A TTL, the delivery's or else the queue's
--           (cfg.ttl), becomes a deadline on Redis's clock in the envelope
--           (version 3, see envelope.go).
-- Returns {result, version}: version is the registry's (0 without KEYS[3]);
-- result is the number of messages queued (a message whose idempotency key
-- was seen within its window is not), -1 when the queue is not routed, or
-- the queue's pattern when it is not ARGV[3]: then nothing is queued, and
-- the producer routes again by that pattern. A call run again (its reply
-- was lost) queues and publishes nothing more and answers as the first run.
local first = 5 + 2 * tonumber(ARGV[4])
local function publish()
  for i = 5, first - 1, 2 do
    redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
  end
end
local version = 0
if KEYS[3] then version = tonumber(redis.call('GET', KEYS[3])) or 0 end
-- The marker holds the result: a count, or "p:<pattern>".
local seen = replayed()
if seen then
  if string.sub(seen, 1, 2) == 'p:' then return {string.sub(seen, 3), version} end
  return {tonumber(seen), version}
end
local cfg = redis.call('HMGET', K_CFG, F_PATTERN, F_LIMIT, F_ATTEMPTS, F_TTL, F_OWN_LIMITS, F_ORDERED)
local pattern = cfg[1]
if not pattern then
  remember(-1)
  publish()
  return {-1, version}
end
if pattern ~= ARGV[3] then
  remember('p:' .. pattern)
  publish()
  return {pattern, version}
end
local L = limits_of(cfg[2], cfg[5], cfg[6])
-- The queue's default budget, 0 for none (as is a value that is not a
-- budget, which only a foreign write leaves).
local budget = num(cfg[3])
if budget < 1 then budget = 0 end
-- with_queue_budget puts the queue's default budget in an envelope in
-- place of the producer's: its attempts field follows the facet (see
-- envelope.go). Only a queue with a default pays for it.
local function with_queue_budget(env)
  if string.sub(env, 1, 1) ~= '2' then return env end
  local colon = string.find(env, ':', 2, true)
  local at = colon + tonumber(string.sub(env, 2, colon - 1)) + 1
  local stop = string.find(env, ':', at, true)
  if not stop then return env end
  return string.sub(env, 1, at - 1) .. budget .. string.sub(env, stop)
end
-- The queue's default TTL (ms), 0 for none (as is a foreign value).
local queue_ttl = num(cfg[4])
-- with_deadline makes a version 2 envelope version 3, with deadline at
-- (ms) after its attempts field (see envelope.go).
local function with_deadline(env, at)
  if string.sub(env, 1, 1) ~= '2' then return env end
  local colon = string.find(env, ':', 2, true)
  local stop = string.find(env, ':', colon + tonumber(string.sub(env, 2, colon - 1)) + 1, true)
  if not stop then return env end
  return '3' .. string.sub(env, 2, stop) .. string.format('%.0f', at) .. string.sub(env, stop)
end
local now
local queued = 0
-- The messages are stored with one HSET, and each facet's appended with one
-- RPUSH, in the order the facets first appear:
-- a batch that repeats facets pays for each facet once, not per message.
local fields, facets, ids = {}, {}, {}
for i = first, #ARGV, 4 do
  local id, f, env, opts = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local fresh, delay, own, ttl = true, 0, false, queue_ttl
  if string.byte(opts, 1) == 61 then -- '=': the budget is the delivery's own
    own, opts = true, string.sub(opts, 2)
  end
  if string.byte(opts, 1) == 43 then -- '+': the TTL is the delivery's own
    local semi = string.find(opts, ';', 2, true)
    ttl, opts = tonumber(string.sub(opts, 2, semi - 1)), string.sub(opts, semi + 1)
  end
  if opts ~= '' then
    local a = string.find(opts, ':', 1, true)
    local b = string.find(opts, ':', a + 1, true)
    delay = tonumber(string.sub(opts, 1, a - 1))
    local window, key = string.sub(opts, a + 1, b - 1), string.sub(opts, b + 1)
    if key ~= '' then
      -- The key holds the end of its window, checked against TIME, so the
      -- window ends on Redis's clock even where key expiry lags (miniredis).
      now = now or now_ms()
      local ends = tonumber(redis.call('GET', IDEM .. key))
      fresh = not ends or ends <= now
      if fresh then
        redis.call('SET', IDEM .. key, now + tonumber(window), 'PX', window)
      end
    end
  end
  if fresh then
    fields[#fields + 1] = id
    if budget > 0 and not own then env = with_queue_budget(env) end
    if ttl > 0 then
      now = now or now_ms()
      env = with_deadline(env, now + ttl)
    end
    fields[#fields + 1] = env
    if delay > 0 then
      now = now or now_ms()
      redis.call('ZADD', K_DELAYED, now + delay, id)
    else
      local list = ids[f]
      if not list then
        list = {}
        ids[f] = list
        facets[#facets + 1] = f
      end
      list[#list + 1] = id
    end
    queued = queued + 1
  end
end
-- unpack's arguments go on Lua's stack, which holds a few thousand.
local CHUNK = 1000
for i = 1, #fields, 2 * CHUNK do
  redis.call('HSET', K_MSGS, unpack(fields, i, math.min(i + 2 * CHUNK - 1, #fields)))
end
local prios -- whether any facet of the queue has a priority: read when needed
for _, f in ipairs(facets) do
  local list = ids[f]
  local ready
  for i = 1, #list, CHUNK do
    ready = redis.call('RPUSH', FACET .. f, unpack(list, i, math.min(i + CHUNK - 1, #list)))
  end
  ready_changed(f, ready - #list, ready)
  -- A facet that had ready messages before already holds its turn, or is
  -- held back (paused, at its in-flight limit, or its turn parked by its
  -- rate limit): give_turn would do nothing more, unless the facet's
  -- priority is above 1 and it may get more tokens. Otherwise it gets a
  -- token per message, as long as it may have more (give_turn says so).
  local turns = ready == #list
  if not turns then
    if prios == nil then prios = redis.call('EXISTS', K_PRIO) == 1 end
    turns = prios and prio_of(f) > 1
  end
  if turns then
    for _ = 1, #list do
      if not give_turn(f, L) then break end
    end
  end
end
-- Under maxmemory the call's first write (an HSET, ZADD or SET above) is
-- refused, and with it the whole call, before anything is written.
remember(queued)
publish()
return {queued, version}
