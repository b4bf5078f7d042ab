-- pull.lua: leases up to n messages, taking facets in ring order.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- KEYS[2] the call's replay marker (see lib.lua)
-- ARGV[1] wake channel
-- ARGV[2] how long the replay marker is kept (ms)
-- ARGV[3] n, the most messages to lease
-- ARGV[4] lease duration (ms)
-- ARGV[5] max attempts of a message stored without a budget (envelope
--         version 1; see reclaim in lib.lua)
-- ARGV[6] dead-letter cap
-- ARGV[7] the most expired leases and due delayed messages to move back first
-- Returns {now, more, next, turns, retired, id, lease, attempt, envelope,
-- id, ...}: now in ms, Redis's clock; more is 1 when the call stopped at its
-- bound on skipped turns, or expired messages (dead-lettered or dropped) while the ring
-- holds turns, so the ring may still hold work for another call;
-- next is when the first facet held back by its rate limit may be pulled
-- again (ms), or when the queue's own rate limit lets it be, or 0, set
-- when the call leased fewer than n; turns is the
-- length of the ring after the call (the weight of a partition in the
-- rotation over partitions); retired is 1 for a partition that
-- SetPartitions retired. Returns an empty array when the queue does not
-- exist. A lease is its member of the leased zset (see lease_member), which
-- the holder sends back to ack, nack, extend or release; its token is
-- "<n>-<salt>": n orders leases by when they were taken, the salt (the
-- call's request ID) makes them unguessable. A call run again (its reply
-- was lost) leases nothing more: it answers the leases of the first run
-- that still hold.
local cfg = redis.call('HMGET', K_CFG, F_LIMIT, F_PAUSED, F_RATED, F_RATE, F_RETIRED, F_LAYERS)
if not cfg[1] then return {} end
local lay = cfg[6] and redis.call('HMGET', K_CFG, F_OWN_LIMITS, F_ORDERED, F_CAP, F_QRATE, F_QTAT) or {}
local L = limits_of(cfg[1], lay[1], lay[2])
local n, lease = tonumber(ARGV[3]), tonumber(ARGV[4])
local now, exact = clock()
local retired = cfg[5] and 1 or 0
local salt = '-' .. request_salt()
local out = {now, 0, 0, 0, retired}

local seen = replayed()
if seen then
  -- The marker is "<n of the first token> <now of the first run> <id>
  -- <attempt> <id> <attempt> ...", one pair per token handed out, in order.
  -- The first run's now is answered, so the caller computes the deadlines
  -- the leases have.
  local words = {}
  for word in string.gmatch(seen, '%S+') do words[#words + 1] = word end
  out[1] = tonumber(words[2])
  local token = tonumber(words[1])
  for i = 3, #words - 1, 2 do
    token = token + 1
    local id, att = words[i], words[i + 1]
    local env = redis.call('HGET', K_MSGS, id)
    local f = envelope_facet(env)
    local v = f and lease_member(id, token .. salt, att, f)
    if v and redis.call('ZSCORE', K_LEASED, v) then
      out[#out + 1] = id
      out[#out + 1] = v
      out[#out + 1] = tonumber(att)
      out[#out + 1] = env
    end
  end
  out[4] = redis.call('LLEN', K_RING)
  return out
end

-- A queue written by layout 1 is moved to this one on first use, before
-- anything is pulled or reclaimed (see migrate_layout; Broker.MigrateLayout
-- does it ahead).
migrate_layout(L)
reclaim(now, L, tonumber(ARGV[7]), tonumber(ARGV[5]), tonumber(ARGV[6]))
-- A queue with no rate limit reads nothing more for them than cfg.rated.
local R = cfg[3] and rate_lib()
if R then R.unpark_due(now, L, tonumber(ARGV[7])) end
if cfg[2] then return out end -- the queue is paused
-- The queue's cap on leases over all workers takes what this call may
-- lease down to the room left (expired leases were reclaimed above, so a
-- crashed worker's slots are free again).
if lay[3] then
  --@defs begin
  n = math.min(n, capped(lay[3]) - redis.call('ZCARD', K_LEASED))
  --@defs end
  if n <= 0 then
    out[4] = redis.call('LLEN', K_RING)
    return out
  end
end
-- The queue's own rate limit (GCRA over all its facets) is spent only by
-- messages leased: a facet held back by its own limit gives its turn to
-- the next without spending any, and the call stops, leaving the ring as
-- it is, when the queue's is spent, so the next facet in turn order gets
-- the next message the queue's limit allows.
local qevery, qtau, qtat, qfree
if R and lay[4] then
  qevery, qtau = R.queue_spec(lay[4])
  if qevery then qtat = math.max(tonumber(lay[5]) or exact, exact) end
end

local rates = R and redis.call('EXISTS', R.RATES) == 1
local token, first_token
local leased = {} -- the replay marker's id and attempt pairs
local got, skips = 0, 0
-- Most queues set no priorities and no limit: then the loop skips reading
-- them, which is a third of its calls.
local prios = redis.call('EXISTS', K_PRIO) == 1
-- Turns given back are appended to the ring in one RPUSH when the loop has
-- taken every turn that was in it, and at the end: the ring's order is the
-- same as with one RPUSH per turn, for one call instead of one per message.
local back_turns = {}
local function next_turn()
  local f = redis.call('LPOP', K_RING)
  if f or #back_turns == 0 then return f end
  redis.call('RPUSH', K_RING, unpack(back_turns))
  back_turns = {}
  return redis.call('LPOP', K_RING)
end
local taken = {} -- {id, facet} of each message popped, in order
-- Each skip drops a token that should not be in the ring (its facet drained
-- or at its limit), so the loop is bounded and always makes progress.
while got < n and skips < n + 100 do
  if qevery and qtat - qtau > exact then
    qfree = math.ceil(qtat - qtau)
    break
  end
  local f = next_turn()
  if not f then break end
  local prio, inflight, limit = 1, 0, 0
  if prios then prio = prio_of(f) end
  if L.on then
    limit = L.facet(f)
    if limit > 0 then inflight = num(redis.call('HGET', K_INFLIGHT, f)) end
  end
  local id, every, tau, wait, tat
  if prio > 0 and (limit == 0 or inflight < limit) then
    if R then
      every, tau = R.spec(rates and redis.call('HGET', R.RATES, f) or cfg[4])
      if every then wait, tat = R.wait(f, every, tau, exact) end
    end
    if not wait then id = redis.call('LPOP', FACET .. f) end
  end
  if not id then
    hincr(K_TOKENS, f, -1)
    -- A facet held back by its rate limit parks its turn until it is free.
    if wait then redis.call('ZADD', R.PARKED, wait, f) end
    skips = skips + 1
  else
    local left = redis.call('LLEN', FACET .. f)
    ready_changed(f, left + 1, left)
    -- The token goes back unless the facet is drained, at its limit, or has
    -- more tokens than messages left (a token beyond those would only be
    -- skipped). A facet of priority 1 holds one token, so only facets of
    -- higher priority need their count read.
    local back = left > 0 and (limit == 0 or inflight + 1 < limit)
    if back and prio > 1 then
      back = num(redis.call('HGET', K_TOKENS, f)) <= left
    end
    if every then
      tat = tat + every
      redis.call('ZADD', R.TAT, R.ms_text(tat), f)
      -- Limited by this lease: park the turn now rather than when it comes up.
      if back and tat - tau > exact then
        redis.call('ZADD', R.PARKED, math.ceil(tat - tau), f)
        back = false
      end
    end
    if back then
      back_turns[#back_turns + 1] = f
    else
      hincr(K_TOKENS, f, -1)
    end
    if L.on then hincr(K_INFLIGHT, f, 1) end -- not HINCRBY: see hincr
    if qevery then qtat = qtat + qevery end
    taken[#taken + 1] = {id, f}
    got = got + 1
  end
end
if #back_turns > 0 then redis.call('RPUSH', K_RING, unpack(back_turns)) end

-- expiry is the queue's policy for expired messages (cfg.expiry), read at
-- the first (nil until then).
local expiry

-- The envelopes and, for messages delivered before, their attempts so far,
-- read in one HMGET per chunk; the attempts move into the lease while it
-- holds. Every lease of the call ends at the same deadline, so one ZADD per
-- chunk writes them. unpack's arguments go on Lua's stack, which holds a
-- few thousand.
local CHUNK = 500
local deadline = now + lease
for from = 1, #taken, CHUNK do
  local to = math.min(from + CHUNK - 1, #taken)
  local fields = {}
  for i = from, to do
    local id = taken[i][1]
    fields[#fields + 1] = id
    fields[#fields + 1] = F_ATT .. id
  end
  local rec = redis.call('HMGET', K_MSGS, unpack(fields))
  local members = {}
  for i = from, to do
    local id, f = taken[i][1], taken[i][2]
    local env, seen_att = rec[2 * (i - from) + 1], rec[2 * (i - from) + 2]
    -- A message that never started (no attempts so far) and whose
    -- deadline has passed is not run: it becomes a dead letter, or is
    -- dropped when the queue's policy says so, counted in cfg.expired
    -- either way. Only version 3 envelopes have one: the rest cost one
    -- byte compare.
    local late = false
    if env and not seen_att and string.byte(env, 1) == 51 then
      --@defs begin
      late = expired(env, now)
      if late then
        if expiry == nil then expiry = redis.call('HGET', K_CFG, F_EXPIRY) or '' end
        if expiry == 'drop' then
          forget(id)
        else
          dead_letter(id, 'expired', now, tonumber(ARGV[6]))
        end
        hincr(K_CFG, F_EXPIRED, 1)
        env = nil
      end
      --@defs end
    end
    if env then
      if not token then
        -- Lease tokens for the whole call at once, taken after the call's
        -- first write, an LPOP: under maxmemory an INCRBY first would be
        -- refused, and a pull is what frees memory. Unused ones are never
        -- handed out.
        token = redis.call('INCRBY', K_SEQ, #taken) - #taken
        first_token = token
      end
      token = token + 1
      local att = num(seen_att) + 1
      if seen_att then set_attempts(id, 0) end
      local v = lease_member(id, token .. salt, att, f)
      leased[#leased + 1] = id .. ' ' .. att
      members[#members + 1] = deadline
      members[#members + 1] = v
      out[#out + 1] = id
      out[#out + 1] = v
      out[#out + 1] = att
      out[#out + 1] = env
    else
      -- An ID without a body (only a foreign write leaves one), or an
      -- expired message: nothing to deliver. Its facet's count and turn
      -- are as if it never was.
      if not late then forget(id) end
      got = got - 1
      if qevery then qtat = qtat - qevery end -- the queue's rate is spent by leases only
      if L.on then
        hincr(K_INFLIGHT, f, -1)
        give_turn(f, L)
      end
    end
  end
  if #members > 0 then redis.call('ZADD', K_LEASED, unpack(members)) end
end
if qevery and #taken > 0 then redis.call('HSET', K_CFG, F_QTAT, R.ms_text(qtat)) end
if got < n and skips >= n + 100 then out[2] = 1 end
out[4] = redis.call('LLEN', K_RING)
-- Expired messages took the place of leases: while turns are left, the
-- caller pulls again at once, so they never leave a worker idle while the
-- queue holds work.
if expiry ~= nil and out[4] > 0 then out[2] = 1 end
if first_token then remember(first_token .. ' ' .. now .. ' ' .. table.concat(leased, ' ')) end
if R and got < n then
  local first = redis.call('ZRANGE', R.PARKED, 0, 0, 'WITHSCORES')
  if first[2] then out[3] = tonumber(first[2]) end
  if qfree and (out[3] == 0 or qfree < out[3]) then out[3] = qfree end
end
return out
