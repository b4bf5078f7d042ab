-- lib.lua: the prelude of every queue script. scripts.go prepends it to each
-- operation's script, so these locals and helpers are in scope there.
--
-- KEYS[1] of every queue script is the queue's key prefix "<ns>:{<queue>}:".
-- Every key a script touches is derived from it, so all of them share the
-- queue's hash tag and live in one Redis Cluster slot.
-- ARGV[1] of every queue script is the queue's wake channel: a message is
-- published there whenever a facet gets a turn, so idle workers wake at once.
local P = KEYS[1]
local K_CFG = P .. 'cfg'            -- hash: pattern (while routed), limit, paused
local K_RING = P .. 'ring'          -- list of facet tokens, in turn order
local K_TOKENS = P .. 'tokens'      -- hash facet -> its tokens in the ring
local K_PRIO = P .. 'prio'          -- hash facet -> priority (absent: 1; "-<p>": paused)
local K_INFLIGHT = P .. 'inflight'  -- hash facet -> messages leased
local K_BACKLOG = P .. 'backlog'    -- zset facet -> messages ready
local K_MSGS = P .. 'msgs'          -- hash id -> envelope
local K_ATT = P .. 'att'            -- hash id -> deliveries so far
local K_LEASE = P .. 'lease'        -- hash id -> "<token>|<facet>"
local K_LEASED = P .. 'leased'      -- zset id -> lease deadline (ms)
local K_DELAYED = P .. 'delayed'    -- zset id -> due time (ms)
local K_DEAD = P .. 'dead'          -- zset id -> time of death (ms)
local K_DEADERR = P .. 'deaderr'    -- hash id -> why it died
local K_SEQ = P .. 'seq'            -- counter for lease tokens
local FACET = P .. 'f:'             -- list per facet: ready IDs, oldest first
local IDEM = P .. 'u:'              -- idempotency keys, with an expiry
local WAKE = ARGV[1]

-- now_ms is Redis's clock in milliseconds; clients' clocks are never used.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- queue_limit is the per-facet in-flight limit (0: none), or nil when the
-- queue does not exist.
local function queue_limit()
  local v = redis.call('HGET', K_CFG, 'limit')
  if not v then return nil end
  return tonumber(v)
end

local function num(v)
  if not v then return 0 end
  return tonumber(v)
end

-- prio_of is facet f's share of turns: its priority, or 0 while paused. A
-- paused facet's priority is kept as "-<priority>", so resuming restores it
-- and the pull path needs no extra lookup.
local function prio_of(f)
  local v = redis.call('HGET', K_PRIO, f)
  if not v then return 1 end
  if string.sub(v, 1, 1) == '-' then return 0 end
  return tonumber(v)
end

-- drop_turns takes every token of facet f out of the ring (O(ring length)).
local function drop_turns(f)
  redis.call('LREM', K_RING, 0, f)
  redis.call('HDEL', K_TOKENS, f)
end

-- hincr adds by to field f of hash k and deletes the field when it drops to 0.
local function hincr(k, f, by)
  if redis.call('HINCRBY', k, f, by) <= 0 then redis.call('HDEL', k, f) end
end

-- backlog_add keeps the backlog zset equal to the facets' list lengths.
local function backlog_add(f, by)
  if tonumber(redis.call('ZINCRBY', K_BACKLOG, by, f)) <= 0 then
    redis.call('ZREM', K_BACKLOG, f)
  end
end

-- give_turn puts one more token of facet f in the ring when f has fewer
-- tokens than its priority and than its ready messages, and is neither
-- paused nor at its limit.
local function give_turn(f, limit)
  local prio = prio_of(f)
  if prio <= 0 then return end
  local tokens = num(redis.call('HGET', K_TOKENS, f))
  if tokens >= prio then return end
  if limit > 0 and num(redis.call('HGET', K_INFLIGHT, f)) >= limit then return end
  -- No more tokens than ready messages, so a drained facet leaves none in
  -- the ring for pulls to skip.
  if redis.call('LLEN', FACET .. f) <= tokens then return end
  redis.call('RPUSH', K_RING, f)
  redis.call('HINCRBY', K_TOKENS, f, 1)
  redis.call('PUBLISH', WAKE, '')
end

-- make_ready appends id to its facet (or puts it at the head) and gives the
-- facet a turn.
local function make_ready(id, f, limit, head)
  if head then
    redis.call('LPUSH', FACET .. f, id)
  else
    redis.call('RPUSH', FACET .. f, id)
  end
  backlog_add(f, 1)
  give_turn(f, limit)
end

-- envelope_facet reads the facet from an envelope: "1<len>:<facet>...".
local function envelope_facet(env)
  if not env or string.sub(env, 1, 1) ~= '1' then return nil end
  local colon = string.find(env, ':', 2, true)
  if not colon then return nil end
  local n = tonumber(string.sub(env, 2, colon - 1))
  if not n or colon + n > #env then return nil end
  return string.sub(env, colon + 1, colon + n)
end

-- forget removes every trace of message id but its place in a list or zset.
local function forget(id)
  redis.call('HDEL', K_MSGS, id)
  redis.call('HDEL', K_ATT, id)
  redis.call('HDEL', K_DEADERR, id)
end

-- dead_letter files id under the dead letters and trims the oldest beyond cap.
local function dead_letter(id, reason, now, cap)
  redis.call('ZADD', K_DEAD, now, id)
  redis.call('HSET', K_DEADERR, id, reason)
  local over = redis.call('ZCARD', K_DEAD) - cap
  if over > 0 then
    local old = redis.call('ZRANGE', K_DEAD, 0, over - 1)
    redis.call('ZREMRANGEBYRANK', K_DEAD, 0, over - 1)
    for _, oid in ipairs(old) do forget(oid) end
  end
end

-- dead_ids reads which dead letters a call is about: the n oldest when
-- ARGV[first] is n > 0, else the IDs in ARGV[first+1..].
local function dead_ids(first)
  local n = tonumber(ARGV[first])
  if n > 0 then return redis.call('ZRANGE', K_DEAD, 0, n - 1) end
  local ids = {}
  for i = first + 1, #ARGV do ids[#ids + 1] = ARGV[i] end
  return ids
end

-- lease_of returns the facet of id's lease when token holds it. Otherwise it
-- returns nil and 0 when the message is gone (acked), or -1 when the lease is
-- lost: expired, or held by someone else.
local function lease_of(id, token)
  local v = redis.call('HGET', K_LEASE, id)
  if v then
    local sep = string.find(v, '|', 1, true)
    if string.sub(v, 1, sep - 1) == token then return string.sub(v, sep + 1) end
    return nil, -1
  end
  if redis.call('HEXISTS', K_MSGS, id) == 1 then return nil, -1 end
  return nil, 0
end

-- end_lease drops id's lease; the caller puts the message somewhere else.
local function end_lease(id, f)
  redis.call('ZREM', K_LEASED, id)
  redis.call('HDEL', K_LEASE, id)
  hincr(K_INFLIGHT, f, -1)
end

-- reclaim moves up to n expired leases back to the head of their facets (or
-- to the dead letters when their attempts are spent), and up to n delayed
-- messages that are due to the tail of their facets.
local function reclaim(now, limit, n, max_attempts, cap)
  local expired = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_LEASED, '-inf', now, 'LIMIT', 0, n)) do
    local v = redis.call('HGET', K_LEASE, id)
    local sep = string.find(v, '|', 1, true)
    expired[#expired + 1] = {id, string.sub(v, sep + 1), tonumber(string.sub(v, 1, sep - 1))}
  end
  -- Pushed back latest lease first, messages pulled together return to the
  -- head of their facet in the order they were pulled.
  table.sort(expired, function(a, b) return a[3] > b[3] end)
  for _, e in ipairs(expired) do
    local id, f = e[1], e[2]
    end_lease(id, f)
    local att = num(redis.call('HGET', K_ATT, id))
    if att >= max_attempts then
      dead_letter(id, 'lease expired on attempt ' .. att, now, cap)
      -- The lease freed a slot: a facet held back at its in-flight limit
      -- must get its turn back here, as nack.lua does, or it stays stuck
      -- with ready work until something else happens to it.
      give_turn(f, limit)
    else
      make_ready(id, f, limit, true)
    end
  end
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, n)
  for _, id in ipairs(due) do
    redis.call('ZREM', K_DELAYED, id)
    local env = redis.call('HGET', K_MSGS, id)
    local f = envelope_facet(env)
    if f then
      make_ready(id, f, limit, false)
    elseif env then
      dead_letter(id, 'unreadable envelope', now, cap)
    else
      forget(id)
    end
  end
end
