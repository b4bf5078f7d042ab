-- pull.lua: leases up to n messages, taking facets in ring order.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] n, the most messages to lease
-- ARGV[3] lease duration (ms)
-- ARGV[4] max attempts
-- ARGV[5] dead-letter cap
-- ARGV[6] the most expired leases and due delayed messages to move back first
-- Returns {now, more, id, token, attempt, envelope, id, ...}: now in ms,
-- Redis's clock; more is 1 when the call stopped at its bound on skipped
-- turns, so the ring may still hold work for another call. Returns an empty
-- array when the queue does not exist.
local cfg = redis.call('HMGET', K_CFG, 'limit', 'paused')
if not cfg[1] then return {} end
local limit = tonumber(cfg[1])
local n, lease = tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
reclaim(now, limit, tonumber(ARGV[6]), tonumber(ARGV[4]), tonumber(ARGV[5]))
if cfg[2] then return {now, 0} end -- the queue is paused

local out = {now, 0}
local got, skips = 0, 0
-- Most queues set no priorities and no limit: then the loop skips reading
-- them, which is a third of its calls.
local prios = redis.call('EXISTS', K_PRIO) == 1
-- Lease tokens for the whole call at once; unused ones are never handed out.
local token = redis.call('INCRBY', K_SEQ, n) - n
-- Each skip drops a token that should not be in the ring (its facet drained
-- or at its limit), so the loop is bounded and always makes progress.
while got < n and skips < n + 100 do
  local f = redis.call('LPOP', K_RING)
  if not f then break end
  local prio, inflight = 1, 0
  if prios then prio = prio_of(f) end
  if limit > 0 then inflight = num(redis.call('HGET', K_INFLIGHT, f)) end
  local id
  if prio > 0 and (limit == 0 or inflight < limit) then
    id = redis.call('LPOP', FACET .. f)
  end
  if not id then
    hincr(K_TOKENS, f, -1)
    skips = skips + 1
  else
    local left = tonumber(redis.call('ZINCRBY', K_BACKLOG, -1, f))
    if left <= 0 then redis.call('ZREM', K_BACKLOG, f) end
    -- The token goes back unless the facet is drained, at its limit, or has
    -- more tokens than messages left (a token beyond those would only be
    -- skipped). A facet of priority 1 holds one token, so only facets of
    -- higher priority need their count read.
    local back = left > 0 and (limit == 0 or inflight + 1 < limit)
    if back and prio > 1 then
      back = num(redis.call('HGET', K_TOKENS, f)) <= left
    end
    if back then
      redis.call('RPUSH', K_RING, f)
    else
      hincr(K_TOKENS, f, -1)
    end
    local env = redis.call('HGET', K_MSGS, id)
    if env then
      token = token + 1
      redis.call('HSET', K_LEASE, id, token .. '|' .. f)
      redis.call('ZADD', K_LEASED, now + lease, id)
      redis.call('HINCRBY', K_INFLIGHT, f, 1)
      local att = redis.call('HINCRBY', K_ATT, id, 1)
      out[#out + 1] = id
      out[#out + 1] = tostring(token)
      out[#out + 1] = att
      out[#out + 1] = env
      got = got + 1
    else
      forget(id) -- an ID without a body: nothing to deliver
    end
  end
end
if got < n and skips >= n + 100 then out[2] = 1 end
return out
