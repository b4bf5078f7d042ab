-- lib.lua: the prelude of every queue script, after keys.lua. `go generate
-- ./broker` writes each operation's full text to scripts/gen: the
-- definitions of both that it uses (directly or through another
-- definition), then its body, so these locals and helpers are in scope
-- there. Every top-level statement here must be a "local" definition with
-- no other effect, starting at the line's first column (see splitLib in
-- broker/internal/scriptgen).
--
-- The key and field names come first, from keys.lua (generated from the
-- table in internal/keylayout).
--
-- Every definition a script gets is made anew on each call: a closure, a
-- key's name built. A script therefore marks the block of a path that is
-- rarely taken (a layer that is off, an envelope that expires) with lines
-- "--@defs begin" and "--@defs end": the definitions only that block uses
-- are made there, when it runs, not at the top (see withPrelude).
--
-- ARGV[1] of every queue script is the queue's wake channel: a message is
-- published there whenever a facet gets a turn, so idle workers wake at once.
local WAKE = ARGV[1]

-- A script call that changes a queue in a way that running it again would
-- change further (enqueue, pull, nack, release, dead-letter requeue and
-- purge) carries KEYS[2], a replay marker "<prefix>r:<request ID>" unique
-- to the call, and ARGV[2], how long to keep it (ms). A client that lost the
-- reply of a call (go-redis retries after a network error or a read
-- timeout) sends the same call again: the script finds the marker and
-- answers what the first run did, changing nothing more.
local REPLAY = KEYS[2]

-- replayed is what the first run of this call remembered, or nil.
local function replayed()
  return redis.call('GET', REPLAY) or nil
end

-- remember records v as this call's outcome for ARGV[2] ms. Under maxmemory
-- the marker's SET is refused when it would be the script's first write:
-- then the call changed nothing, so running it again is harmless, and the
-- refusal must not fail a call that frees memory.
local function remember(v)
  redis.pcall('SET', REPLAY, v, 'PX', ARGV[2])
end

-- request_salt is the request ID of the marker, random for every call: lease
-- tokens end with it, so that no token can be guessed, and no token of
-- another namespace or server can match.
local function request_salt()
  return string.sub(REPLAY, #P + 3)
end

-- token_seq is the counter part of a lease token "<n>-<salt>", which orders
-- leases by when they were taken (0 when unreadable).
local function token_seq(token)
  local n = string.match(token or '', '^%d+')
  return tonumber(n) or 0
end

-- clock is Redis's clock in whole milliseconds and, as a second result, in
-- milliseconds to the microsecond, which rate limits measure by; clients'
-- clocks are never used.
local function clock()
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  return s * 1000 + math.floor(us / 1000), s * 1000 + us / 1000
end

-- now_ms is Redis's clock in whole milliseconds.
local function now_ms()
  local ms = clock()
  return ms
end

-- num reads a counter. A value that is not a whole number from 0 to 2^53
-- counts as 0: only a foreign write leaves one, and an error here, after a
-- script has moved a message, would strand it.
local function num(v)
  local n = tonumber(v)
  if not n or n < 0 or n > 9007199254740992 or n ~= math.floor(n) then return 0 end
  return n
end

-- limits_of reads the in-flight limits from cfg's limit, limits and
-- ordered fields: L.default is the queue's per-facet limit (0: none),
-- L.own whether some facet has its own (the limits hash), L.ordered whether
-- strict order makes every facet's limit 1. L.on tells whether the facets'
-- in-flight counts are kept: only then do pulls and acks write them.
local function limits_of(limit, own, ordered)
  -- An absent field is false (Redis's nil), not nil.
  local L = {default = num(limit), own = own and true or false, ordered = ordered and true or false}
  L.on = L.default > 0 or L.own or L.ordered
  -- L.facet(f), made only while L.on (a closure costs every call that
  -- makes it), is the most messages of facet f in flight at once: 1 under
  -- strict order, else its own limit or the queue's (0: none).
  if L.on then
    function L.facet(f)
      if L.ordered then return 1 end
      if L.own then
        local v = redis.call('HGET', K_LIMITS, f)
        if v then return num(v) end
      end
      return L.default
    end
  end
  return L
end

-- cfg.layers stands for the fields of the layers beyond a facet's limits
-- and rates: a script reads them ("lay = cfg.layers and HMGET ... or {}")
-- only when it is set, so that a queue without them pays one field of its
-- HMGET for them all. mark_layers sets it after a change of those fields:
-- every setter of one calls it.
local function mark_layers()
  local fields = redis.call('HMGET', K_CFG, F_OWN_LIMITS, F_ORDERED, F_CAP, F_QRATE, F_TTL, F_ADMIT)
  for i = 1, 6 do
    if fields[i] then
      redis.call('HSET', K_CFG, F_LAYERS, 1)
      return
    end
  end
  redis.call('HDEL', K_CFG, F_LAYERS)
end

-- queue_limits is the queue's in-flight limits (see limits_of), or nil
-- when the queue does not exist.
local function queue_limits()
  local cfg = redis.call('HMGET', K_CFG, F_LIMIT, F_LAYERS)
  if not cfg[1] then return nil end
  local lay = cfg[2] and redis.call('HMGET', K_CFG, F_OWN_LIMITS, F_ORDERED) or {}
  return limits_of(cfg[1], lay[1], lay[2])
end

-- capped is the queue's cap on messages leased at once over all workers
-- (cfg.cap; 0: none), or for partition i of k its share, as dead_cap
-- shares the dead-letter cap: each partition at least 1, so none starves.
local function capped(v)
  local cap = num(v)
  if cap == 0 then return 0 end
  local i, k = string.match(redis.call('HGET', K_CFG, F_SHARE) or '', '^(%d+);(%d+)$')
  if not i then return cap end
  i, k = tonumber(i), tonumber(k)
  local share = math.floor(cap / k)
  if i < cap % k then share = share + 1 end
  return math.max(share, 1)
end

-- admission_of reads cfg.admit "<facet cap>;<queue cap>;<policy>;<own>"
-- (admission control at delivery): A.facet is the default backlog cap of a
-- facet (0: none), A.queue the queue's cap (0: none; see capped for a
-- partition's share), A.drop whether a facet past its cap drops its oldest
-- ready messages (else deliveries past it are refused), A.own whether some
-- facet has a cap of its own (the backlogs hash). nil for a value it does
-- not read, which only a foreign write leaves.
local function admission_of(v)
  local f, q, p, o = string.match(v, '^(%d+);(%d+);(%a+);([01])$')
  if not f then return nil end
  return {facet = num(f), queue = num(q), drop = p == 'drop', own = o == '1'}
end

-- wake_below_cap wakes idle workers when the leases just ended (freed of
-- them) took the queue from its cap (capped; 0: none) to below it: no
-- turn is given back then, so nothing else would tell them.
local function wake_below_cap(cap, freed)
  if cap > 0 and freed > 0 and redis.call('ZCARD', K_LEASED) + freed >= cap then
    redis.call('PUBLISH', WAKE, '')
  end
end

-- prio_of is facet f's share of turns: its priority, or 0 while paused. A
-- paused facet's priority is kept as "-<priority>", so resuming restores it
-- and the pull path needs no extra lookup.
local function prio_of(f)
  local v = redis.call('HGET', K_PRIO, f)
  if not v then return 1 end
  if string.sub(v, 1, 1) == '-' then return 0 end
  -- A value that is not a number (a foreign write) counts as the default:
  -- failing here, in reclaim, would stop every pull of the queue.
  return tonumber(v) or 1
end

-- drop_turns takes every token of facet f out of the ring (O(ring length)).
local function drop_turns(f)
  redis.call('LREM', K_RING, 0, f)
  redis.call('HDEL', K_TOKENS, f)
end

-- hincr adds by to field f of hash k, deletes the field when it drops to 0,
-- and returns the new value. A value HINCRBY refuses (not an integer: only
-- a foreign write leaves one) counts as 0, as in num: failing after the
-- script has moved a message would strand it. A key of the wrong type
-- still fails, in HSET.
local function hincr(k, f, by)
  local n = redis.pcall('HINCRBY', k, f, by)
  if type(n) ~= 'number' then
    n = by
    redis.call('HSET', k, f, n)
  end
  if n <= 0 then redis.call('HDEL', k, f) end
  return n
end

-- ready_changed records that facet f went from before to after ready
-- messages: active lists the facets that have any; deep ranks those with
-- at least DEEP_BACKLOG, rewritten only when the count enters another
-- multiple of DEEP_BACKLOG, so that a pull pays nothing per message for the
-- ranking and the score is always within DEEP_BACKLOG of the count.
local function ready_changed(f, before, after)
  if before == 0 and after > 0 then
    redis.call('SADD', K_ACTIVE, f)
  elseif after == 0 and before > 0 then
    redis.call('SREM', K_ACTIVE, f)
  end
  local was, now = math.floor(before / DEEP_BACKLOG), math.floor(after / DEEP_BACKLOG)
  if was == now then return end
  if now == 0 then
    redis.call('ZREM', K_DEEP, f)
  else
    redis.call('ZADD', K_DEEP, after, f)
  end
end

-- give_turn puts one more token of facet f in the ring when f has fewer
-- tokens than its priority and than its ready messages, and is neither
-- paused nor at its in-flight limit (L, see limits_of).
local function give_turn(f, L)
  local prio = prio_of(f)
  if prio <= 0 then return end
  local tokens = num(redis.call('HGET', K_TOKENS, f))
  if tokens >= prio then return end
  if L.on then
    local limit = L.facet(f)
    if limit > 0 and num(redis.call('HGET', K_INFLIGHT, f)) >= limit then return end
  end
  -- No more tokens than ready messages, so a drained facet leaves none in
  -- the ring for pulls to skip.
  if redis.call('LLEN', FACET .. f) <= tokens then return end
  redis.call('RPUSH', K_RING, f)
  hincr(K_TOKENS, f, 1) -- not HINCRBY: see hincr
  redis.call('PUBLISH', WAKE, '')
  return true
end

-- make_ready appends id to its facet (or puts it at the head) and gives the
-- facet a turn.
local function make_ready(id, f, L, head)
  local ready
  if head then
    ready = redis.call('LPUSH', FACET .. f, id)
  else
    ready = redis.call('RPUSH', FACET .. f, id)
  end
  ready_changed(f, ready - 1, ready)
  give_turn(f, L)
end

-- envelope_facet reads the facet from an envelope, "2<len>:<facet>
-- <attempts>:...", "3<len>:<facet><attempts>:<deadline>:..." or
-- "1<len>:<facet>...", and as a second result the most deliveries the
-- message gets, which only versions 2 and 3 hold (see envelope.go).
local function envelope_facet(env)
  local v = env and string.sub(env, 1, 1)
  if v ~= '2' and v ~= '3' and v ~= '1' then return nil end
  local colon = string.find(env, ':', 2, true)
  if not colon then return nil end
  local n = tonumber(string.sub(env, 2, colon - 1))
  -- No facet is empty (the producer refuses one), so a length of 0 is a
  -- foreign write, as is one past the end.
  if not n or n < 1 or colon + n > #env then return nil end
  local f = string.sub(env, colon + 1, colon + n)
  if v == '1' then return f end
  -- tonumber(nil) raises: an envelope whose attempts field is not one
  -- (a foreign write) gets the default budget instead.
  local att = tonumber(string.match(env, '^(%d+):', colon + n + 1) or '')
  if att and att > 0 then return f, att end
  return f
end

-- with_budget puts budget in a version 2 envelope in place of the
-- producer's: its attempts field follows the facet (see envelope.go).
local function with_budget(env, budget)
  if string.sub(env, 1, 1) ~= '2' then return env end
  local colon = string.find(env, ':', 2, true)
  local at = colon + tonumber(string.sub(env, 2, colon - 1)) + 1
  local stop = string.find(env, ':', at, true)
  if not stop then return env end
  return string.sub(env, 1, at - 1) .. budget .. string.sub(env, stop)
end

-- with_deadline makes a version 2 envelope version 3, with deadline at
-- (ms) after its attempts field (see envelope.go).
local function with_deadline(env, at)
  if string.sub(env, 1, 1) ~= '2' then return env end
  local colon = string.find(env, ':', 2, true)
  local stop = string.find(env, ':', colon + tonumber(string.sub(env, 2, colon - 1)) + 1, true)
  if not stop then return env end
  return '3' .. string.sub(env, 2, stop) .. string.format('%.0f', at) .. string.sub(env, stop)
end

-- deadline_at finds the deadline of a version 3 envelope (see
-- envelope.go): it returns the deadline (ms, Redis's clock) and where its
-- field starts and ends, or nil for another version or a field that is not
-- digits. That field, or a facet length, that is not what enqueue writes is
-- a foreign write: the message then never expires, as an error here would
-- stop every pull of the queue.
local function deadline_at(env)
  local len = string.match(env, '^3(%d+):')
  -- Digits too many for a number read as nil (miniredis) or inf (Redis).
  local n = tonumber(len or '')
  if not n or #len + 3 + n > #env then return nil end
  local from = #len + 3 + n -- just past the facet
  local _, att_end = string.find(env, '^%d+:', from)
  if not att_end then return nil end
  local _, stop, d = string.find(env, '^(%d+):', att_end + 1)
  if not stop then return nil end
  return tonumber(d), att_end + 1, stop
end

-- expired tells whether the message of envelope env, which has not
-- started, expired at or before now. A deadline of 0 is none.
local function expired(env, now)
  local d = deadline_at(env)
  return d ~= nil and d > 0 and d <= now
end

-- without_deadline is env as version 2, without its deadline: a dead letter
-- requeued is run whatever its deadline was.
local function without_deadline(env)
  local _, from, stop = deadline_at(env)
  if not from then return env end
  return '2' .. string.sub(env, 2, from - 1) .. string.sub(env, stop + 1)
end

-- set_attempts keeps the deliveries so far of message id, which is not
-- leased (a lease holds its own in its member): a field of msgs beside the
-- envelope, absent for none, so a message never redelivered costs nothing.
-- cfg.retried counts those fields, so that Stats can tell messages from
-- fields of msgs without reading them.
local function set_attempts(id, att)
  if att > 0 then
    if redis.call('HSET', K_MSGS, F_ATT .. id, att) == 1 then hincr(K_CFG, F_RETRIED, 1) end
  elseif redis.call('HDEL', K_MSGS, F_ATT .. id) == 1 then
    hincr(K_CFG, F_RETRIED, -1)
  end
end

-- forget removes every trace of message id but its place in a list or zset.
local function forget(id)
  redis.call('HDEL', K_MSGS, id)
  set_attempts(id, 0)
  redis.call('HDEL', K_DEADERR, id)
end

-- A lease is one member of the leased zset, "<id>|<token>|<attempt>|<facet>"
-- scored by its deadline: the holder sends it back whole, so one ZSCORE or
-- ZREM proves the lease and another key per message is never read. The
-- facet comes last, as it may hold '|'.
local function lease_member(id, token, att, f)
  return id .. '|' .. token .. '|' .. att .. '|' .. f
end

-- parse_lease reads a lease member: id, token, attempt, facet; nil for one
-- that is not a lease of this layout (a foreign write, or layout 1's bare
-- ID).
local function parse_lease(v)
  local id, token, att, f = string.match(v, '^([^|]+)|([^|]+)|(%d+)|(.+)$')
  if not id then return nil end
  return id, token, tonumber(att), f
end

-- dead_cap is this queue's share of the dead-letter cap, the queue's: all
-- of it, or for partition i of k (cfg.share "<i>;<k>", see settings.lua)
-- floor(cap/k), plus one for the first cap%k partitions, so that the
-- partitions of a queue hold at most cap in all.
local function dead_cap(cap)
  local i, k = string.match(redis.call('HGET', K_CFG, F_SHARE) or '', '^(%d+);(%d+)$')
  if not i then return cap end
  i, k = tonumber(i), tonumber(k)
  local share = math.floor(cap / k)
  if i < cap % k then share = share + 1 end
  return share
end

-- dead_letter files id under the dead letters and trims the oldest beyond
-- the queue's share of cap.
local function dead_letter(id, reason, now, cap)
  redis.call('ZADD', K_DEAD, now, id)
  redis.call('HSET', K_DEADERR, id, reason)
  local over = redis.call('ZCARD', K_DEAD) - dead_cap(cap)
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

-- lease_of proves a lease: for the member v of a lease still held, it
-- returns the message's id, facet and attempt. Otherwise it returns nil and
-- 0 when the message is gone (acked), or -1 when the lease is lost: expired,
-- or held by someone else.
local function lease_of(v)
  local id, _, att, f = parse_lease(v)
  if not id then return nil, -1 end
  if redis.call('ZSCORE', K_LEASED, v) then return id, f, att end
  if redis.call('HEXISTS', K_MSGS, id) == 1 then return nil, -1 end
  return nil, 0
end

-- end_lease drops lease v of facet f; the caller puts the message somewhere
-- else. The facet's in-flight count is kept only under a limit (L.on).
local function end_lease(v, f, L)
  redis.call('ZREM', K_LEASED, v)
  if L.on then hincr(K_INFLIGHT, f, -1) end
end

-- migrate_layout moves what the layout 1 keys att, lease and backlog hold
-- into this layout: a leased message's attempts and token into its lease
-- member, another's attempts into its attempts field, the facets of the
-- backlog into active and deep (their counts read from their lists, as
-- writes since the upgrade no longer count in backlog); the in-flight
-- counts of a queue without a limit are dropped, as they are no longer
-- kept. One call moves all of it (with the commands the scripts' ACL
-- already allows): O(messages retried or in flight + facets), once.
local function migrate_layout(L)
  if redis.call('EXISTS', K_ATT, K_LEASE, K_BACKLOG) == 0 then return end
  local fields = redis.call('HGETALL', K_ATT)
  for i = 1, #fields, 2 do
    local id, att = fields[i], num(fields[i + 1])
    local deadline = redis.call('ZSCORE', K_LEASED, id)
    if deadline then
      local v = redis.call('HGET', K_LEASE, id) or ''
      local sep = string.find(v, '|', 1, true)
      local token = sep and string.sub(v, 1, sep - 1) or '0-migrated'
      local f = envelope_facet(redis.call('HGET', K_MSGS, id)) or (sep and string.sub(v, sep + 1)) or ''
      redis.call('ZREM', K_LEASED, id)
      if f ~= '' then redis.call('ZADD', K_LEASED, deadline, lease_member(id, token, math.max(att, 1), f)) end
    else
      set_attempts(id, att)
    end
  end
  for _, f in ipairs(redis.call('ZRANGE', K_BACKLOG, 0, -1)) do
    local ready = redis.call('LLEN', FACET .. f)
    -- Written whole, whether or not a write since the upgrade already did.
    if ready > 0 then ready_changed(f, 0, ready) end
  end
  -- Leases without attempts (only foreign writes leave them) are found by
  -- reclaim, which reads a bare ID as a lease of attempt 0.
  redis.call('DEL', K_ATT, K_LEASE, K_BACKLOG)
  if not L.on then redis.call('DEL', K_INFLIGHT) end
end

-- reclaim moves up to n expired leases back to the head of their facets (or
-- to the dead letters when their attempts are spent: the envelope's budget,
-- else max_attempts), and up to n delayed messages that are due to the tail
-- of their facets.
local function reclaim(now, L, n, max_attempts, cap)
  local expired = {}
  for _, v in ipairs(redis.call('ZRANGEBYSCORE', K_LEASED, '-inf', now, 'LIMIT', 0, n)) do
    -- A lease a foreign write garbled still names its message first.
    local id, token, att, lf = parse_lease(v)
    id = id or string.match(v, '^[^|]+') or v
    -- The envelope names the facet; the lease names the same one unless a
    -- foreign write changed it, so it is only the fallback.
    local env = redis.call('HGET', K_MSGS, id)
    local f, budget = envelope_facet(env)
    expired[#expired + 1] = {v, id, f or lf or '', token_seq(token), att or 0, env, budget or max_attempts}
  end
  -- Pushed back latest lease first, messages pulled together return to the
  -- head of their facet in the order they were pulled.
  table.sort(expired, function(a, b) return a[4] > b[4] end)
  for _, e in ipairs(expired) do
    local v, id, f, att = e[1], e[2], e[3], e[5]
    if f == '' then
      -- No facet to go back to: only foreign writes to both its lease and
      -- its envelope leave none. Drop the lease; dead-letter the body.
      redis.call('ZREM', K_LEASED, v)
      if e[6] then dead_letter(id, 'unreadable envelope', now, cap) else forget(id) end
    else
      end_lease(v, f, L)
      set_attempts(id, att)
      if att >= e[7] then
        dead_letter(id, 'lease expired on attempt ' .. att, now, cap)
        -- The lease freed a slot: a facet held back at its in-flight limit
        -- must get its turn back here, as nack.lua does, or it stays stuck
        -- with ready work until something else happens to it.
        give_turn(f, L)
      else
        make_ready(id, f, L, true)
      end
    end
  end
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, n)
  for _, id in ipairs(due) do
    redis.call('ZREM', K_DELAYED, id)
    local env = redis.call('HGET', K_MSGS, id)
    local f = envelope_facet(env)
    if f and L.ordered and redis.call('HEXISTS', K_MSGS, F_ATT .. id) == 1 then
      -- A retry under strict order held its facet's slot while it waited
      -- (see nack.lua): it frees it now and runs before the facet's others.
      hincr(K_INFLIGHT, f, -1)
      make_ready(id, f, L, true)
    elseif f then
      make_ready(id, f, L, false)
    elseif env then
      dead_letter(id, 'unreadable envelope', now, cap)
    else
      forget(id)
    end
  end
end

