-- pull.lua: leases up to n messages, taking facets in ring order.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] n, the most messages to lease
-- ARGV[3] lease duration (ms)
-- ARGV[4] max attempts
-- ARGV[5] dead-letter cap
-- ARGV[6] the most expired leases and due delayed messages to move back first
-- Returns {now, id, token, attempt, envelope, id, ...} (now in ms, Redis's
-- clock), or an empty array when the queue does not exist.
local limit = queue_limit()
if not limit then return {} end
local n, lease = tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
reclaim(now, limit, tonumber(ARGV[6]), tonumber(ARGV[4]), tonumber(ARGV[5]))

local out = {now}
local got, skips = 0, 0
-- Each skip drops a token that should not be in the ring (its facet drained,
-- paused or at its limit), so the loop is bounded and always makes progress.
while got < n and skips < n + 100 do
  local f = redis.call('LPOP', K_RING)
  if not f then break end
  local inflight = num(redis.call('HGET', K_INFLIGHT, f))
  local prio = prio_of(f)
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
    inflight = inflight + 1
    -- The token goes back unless the facet is drained, at its limit, or holds
    -- more tokens than a lowered priority allows or than it has messages
    -- left (a token beyond those would only be skipped).
    local tokens = num(redis.call('HGET', K_TOKENS, f))
    if left > 0 and (limit == 0 or inflight < limit) and tokens <= prio and tokens <= left then
      redis.call('RPUSH', K_RING, f)
    else
      hincr(K_TOKENS, f, -1)
    end
    local env = redis.call('HGET', K_MSGS, id)
    if env then
      local token = redis.call('INCR', K_SEQ)
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
return out
