-- enqueue.lua: queues messages on one queue.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] the queue's pattern the producer routed the messages by
-- ARGV[3..] six per message: id, facet, envelope, delay (ms, 0: ready now),
--           idempotency key ('' for none), idempotency window (ms)
-- Returns the number of messages queued (a message whose idempotency key was
-- seen within its window is not), -1 when the queue is not routed, or the
-- queue's pattern when it is not ARGV[2]: then nothing is queued, and the
-- producer routes again by that pattern.
local cfg = redis.call('HMGET', K_CFG, 'pattern', 'limit')
local pattern = cfg[1]
if not pattern then return -1 end
if pattern ~= ARGV[2] then return pattern end
local limit = num(cfg[2])
local now
local queued = 0
for i = 3, #ARGV, 6 do
  local id, f, env = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local delay, key = tonumber(ARGV[i + 3]), ARGV[i + 4]
  local fresh = true
  if key ~= '' then
    -- The key holds the end of its window, checked against TIME, so the
    -- window ends on Redis's clock even where key expiry lags (miniredis).
    now = now or now_ms()
    local window = tonumber(ARGV[i + 5])
    local ends = tonumber(redis.call('GET', IDEM .. key))
    fresh = not ends or ends <= now
    if fresh then
      redis.call('SET', IDEM .. key, now + window, 'PX', ARGV[i + 5])
    end
  end
  if fresh then
    redis.call('HSET', K_MSGS, id, env)
    if delay > 0 then
      now = now or now_ms()
      redis.call('ZADD', K_DELAYED, now + delay, id)
    else
      make_ready(id, f, limit, false)
    end
    queued = queued + 1
  end
end
return queued
