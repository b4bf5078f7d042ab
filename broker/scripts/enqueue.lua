-- enqueue.lua: queues messages on one queue, then publishes messages.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- KEYS[2] the call's replay marker (see lib.lua)
-- KEYS[3] optional: the registry's version key, read in the same call (only
--         where the deployment is not a Cluster: it is in another slot)
-- ARGV[1] wake channel
-- ARGV[2] how long the replay marker is kept (ms)
-- ARGV[3] the queue's pattern the producer routed the messages by
-- ARGV[4] the dead-letter cap (Config.DeadLetterCap), for messages dropped
--         to make room (admission control, cfg.admit)
-- ARGV[5] m, how many publications follow
-- ARGV[6..5+2m] pairs: channel, body; published once the messages are
--           written (the producer has the last enqueue call of a delivery
--           publish), so a delivery Redis refuses (a full Redis) is heard of
--           by no subscriber; published too when the queue refused them for
--           its routing, which the producer then corrects, but not when
--           admission control refused any: the producer then publishes
--           those that some queue took
-- ARGV[6+2m..] four per message: id, facet, envelope, options. The
--           envelope holds the message's budget: its delivery's own, else
--           the producer's default (Config.MaxAttempts), which the queue's
--           default (cfg.attempts) replaces when it has one. Options are ''
--           for a message ready now without an idempotency key whose budget
--           is the producer's default, that starts a delivery call of its
--           own; else "&" first when it belongs to the same call
--           (DeliverBatch) as the message before it, which admission
--           control admits or refuses with it, then "=" when its budget is its
--           delivery's own (no queue default replaces it), then
--           "+<ttl ms>;" when it has a TTL of its own (no queue default
--           replaces it either), then, when it is delayed or has a key,
--           "<delay ms>:<idempotency window ms>:<key>" (the key may be '',
--           the delay 0). A TTL, the delivery's or else the queue's
--           (cfg.ttl), becomes a deadline on Redis's clock in the envelope
--           (version 3, see envelope.go).
-- Returns {result, version, refused}: version is the registry's (0 without
-- KEYS[3]); result is the number of messages queued (a message whose
-- idempotency key was seen within its window is not), -1 when the queue is
-- not routed, or the queue's pattern when it is not ARGV[3]: then nothing
-- is queued, and the producer routes again by that pattern. refused lists,
-- three per message that admission control refused (cfg.admit): its
-- position among the call's messages (1-based), 'f' when its facet's
-- backlog cap or 'q' when the queue's cap refused it, and that cap. A
-- refused message writes nothing, and neither do the others of its
-- delivery call. A call run again (its reply was lost) queues and publishes
-- nothing more and answers as the first run.
local first = 6 + 2 * tonumber(ARGV[5])
local function publish()
  for i = 6, first - 1, 2 do
    redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
  end
end
local version = 0
if KEYS[3] then version = tonumber(redis.call('GET', KEYS[3])) or 0 end
-- The marker holds the result: a count, "p:<pattern>", or
-- "a:<count>,<refused...>" when admission control refused messages.
local seen = replayed()
if seen then
  local tag = string.sub(seen, 1, 2)
  if tag == 'p:' then return {string.sub(seen, 3), version} end
  if tag == 'a:' then
    local parts = {}
    for v in string.gmatch(string.sub(seen, 3), '[^,]+') do parts[#parts + 1] = v end
    local out = {}
    for i = 2, #parts, 3 do
      out[#out + 1], out[#out + 2], out[#out + 3] = tonumber(parts[i]), parts[i + 1], tonumber(parts[i + 2])
    end
    return {tonumber(parts[1]), version, out}
  end
  return {tonumber(seen), version}
end
local cfg = redis.call('HMGET', K_CFG, F_PATTERN, F_LIMIT, F_ATTEMPTS, F_LAYERS)
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
local lay = cfg[4] and redis.call('HMGET', K_CFG, F_TTL, F_OWN_LIMITS, F_ORDERED, F_ADMIT) or {}
local L = limits_of(cfg[2], lay[2], lay[3])
-- The queue's default budget, 0 for none (as is a value that is not a
-- budget, which only a foreign write leaves).
local budget = num(cfg[3])
if budget < 1 then budget = 0 end
-- The queue's default TTL (ms), 0 for none (as is a foreign value).
local queue_ttl = num(lay[1])
local now
local queued = 0
-- The messages are stored with one HSET, and each facet's appended with one
-- RPUSH, in the order the facets first appear:
-- a batch that repeats facets pays for each facet once, not per message.
local fields, facets, ids = {}, {}, {}
local claimed -- idempotency keys claimed by this call's messages (made at the first)
-- Under admission control (cfg.admit) the messages are read twice: the
-- first pass only notes, in held, what admission control needs, and
-- decides which delivery calls it refuses (skip: their messages' places);
-- the second, the only one without it, queues the others. A refused
-- delivery writes nothing. held holds, per message: its facet, its delay,
-- its place among the call's messages, whether it belongs to the delivery
-- call of the one before it, whether its idempotency key (if any) is free
-- in Redis, and that key.
local A
if lay[4] then
  --@defs begin
  A = admission_of(lay[4])
  --@defs end
end
local held, skip, drops, refused, make_room = A and {}, nil, nil, nil, nil
for pass = A and 1 or 2, 2 do
  local starts = true -- the next message starts a delivery call
  for i = first, #ARGV, 4 do
    local id, f, env, opts = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local fresh, delay, own, ttl = true, 0, false, queue_ttl
    local key, window = '', ''
    local pos = (i - first) / 4 + 1
    if string.byte(opts, 1) == 38 then -- '&': the same delivery call as the one before
      opts = string.sub(opts, 2)
    else
      starts = true
    end
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
      window, key = string.sub(opts, a + 1, b - 1), string.sub(opts, b + 1)
      if key ~= '' then
        -- The key holds the end of its window, checked against TIME, so the
        -- window ends on Redis's clock even where key expiry lags (miniredis).
        now = now or now_ms()
        local ends = tonumber(redis.call('GET', IDEM .. key))
        -- (Two ifs: gopher-lua, miniredis's Lua, gets "not t[k] and x" wrong.)
        if claimed and claimed[key] then
          fresh = false
        else
          fresh = not ends or ends <= now
        end
      end
    end
    if pass == 1 then
      held[#held + 1] = {f, delay, pos, not starts, fresh, key}
      starts = false
    elseif fresh and not (skip and skip[pos]) then
      if key ~= '' then
        claimed = claimed or {}
        claimed[key] = true
        redis.call('SET', IDEM .. key, now + tonumber(window), 'PX', window)
      end
      -- A queue's default budget, and a TTL, rewrite the envelope: only
      -- messages that have one pay for the helpers.
      if budget > 0 and not own then
        --@defs begin
        env = with_budget(env, budget)
        --@defs end
      end
      if ttl > 0 then
        --@defs begin
        now = now or now_ms()
        env = with_deadline(env, now + ttl)
        --@defs end
      end
      fields[#fields + 1] = id
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
  -- Admission control: each delivery call's new messages are admitted or
  -- refused together, in order, against the backlog caps of their facets
  -- (ready messages; delayed ones count once due) and the queue's cap (its
  -- messages not dead). Under the drop policy a facet's cap refuses
  -- nothing: make_room dead-letters its oldest ready messages instead, once
  -- the new ones are in its list, as many as the call pushed it past its
  -- cap.
  if pass == 1 then
    skip, drops, refused = {}, {}, {}
    local qcap, stored = 0, 0
    if A.queue > 0 then
      --@defs begin
      qcap = capped(A.queue)
      stored = redis.call('HLEN', K_MSGS) - redis.call('ZCARD', K_DEAD) - num(redis.call('HGET', K_CFG, F_RETRIED))
      --@defs end
    end
    --@defs begin
    local ready, cap_of = {}, {}
    local function facet_cap(f)
      local c = cap_of[f]
      if c == nil then
        c = A.facet
        if A.own then
          local v = redis.call('HGET', K_BACKLOGS, f)
          if v then c = num(v) end
        end
        cap_of[f] = c
        if c > 0 then ready[f] = redis.call('LLEN', FACET .. f) end
      end
      return c
    end
    local taken = {} -- idempotency keys of the messages admitted
    local i = 1
    while i <= #held do
      local j = i
      while j < #held and held[j + 1][4] do j = j + 1 end
      -- Messages i..j are one delivery call: those it queues (new, and
      -- not a key an admitted message or one before in the call holds),
      -- and what they add, per facet.
      local adds, order, keys, why, cap, total = {}, {}, {}, nil, 0, 0
      for k = i, j do
        local m = held[k]
        local key = m[6]
        if m[5] and (key == '' or not taken[key] and not keys[key]) then
          if key ~= '' then keys[key] = true end
          total = total + 1
          if m[2] == 0 then
            if not adds[m[1]] then adds[m[1]], order[#order + 1] = 0, m[1] end
            adds[m[1]] = adds[m[1]] + 1
          end
        end
      end
      local dropping = {}
      for _, f in ipairs(order) do
        local c = facet_cap(f)
        if c > 0 then
          local over = ready[f] + adds[f] - c
          if over > 0 then
            if not A.drop then
              why, cap = 'f', c
              break
            end
            dropping[f] = math.min(adds[f], over)
          end
        end
      end
      if not why and qcap > 0 then
        local net = total
        for _, d in pairs(dropping) do net = net - d end
        if net > 0 and stored + net > qcap then why, cap = 'q', qcap else stored = stored + net end
      end
      if why then
        for k = i, j do
          local p = held[k][3]
          skip[p] = true
          refused[#refused + 1], refused[#refused + 2], refused[#refused + 3] = p, why, cap
        end
      else
        for f, n in pairs(adds) do
          if ready[f] then ready[f] = ready[f] + n - (dropping[f] or 0) end
        end
        for f, d in pairs(dropping) do drops[f] = (drops[f] or 0) + d end
        for key in pairs(keys) do taken[key] = true end
      end
      i = j + 1
    end
    --@defs end
  end
  if pass == 1 and next(drops) then
    --@defs begin
    -- make_room dead-letters the n oldest ready messages of facet f,
    -- counted in cfg.dropped, and returns how many it had ready before.
    make_room = function(f, n, before)
      now = now or now_ms()
      for _, old in ipairs(redis.call('LPOP', FACET .. f, n)) do
        dead_letter(old, 'backlog full: dropped for newer messages of its facet', now, tonumber(ARGV[4]))
      end
      hincr(K_CFG, F_DROPPED, n)
      return before - n
    end
    --@defs end
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
  local before = ready - #list
  -- Under the drop policy, the facet's oldest ready messages beyond its
  -- backlog cap make room; it keeps at least the ready messages it had.
  if drops and drops[f] then ready = make_room(f, drops[f], ready) end
  ready_changed(f, before, ready)
  -- A facet that had ready messages before already holds its turn, or is
  -- held back (paused, at its in-flight limit, or its turn parked by its
  -- rate limit): give_turn would do nothing more, unless the facet's
  -- priority is above 1 and it may get more tokens. Otherwise it gets a
  -- token per message, as long as it may have more (give_turn says so).
  local turns = before == 0
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
if refused and #refused > 0 then
  -- A call refused whole wrote nothing, not even its marker: run again,
  -- it answers by what it finds then, as truly.
  if queued > 0 then remember('a:' .. queued .. ',' .. table.concat(refused, ',')) end
  return {queued, version, refused}
end
remember(queued)
publish()
return {queued, version}
