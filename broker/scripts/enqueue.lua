-- enqueue.lua: queues messages on one queue.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2..] six per message: id, facet, envelope, delay (ms, 0: ready now),
--           idempotency key ('' for none), idempotency window (ms)
-- Returns the number of messages queued (a message whose idempotency key was
-- seen within its window is not), or -1 when the queue is not routed.
if not redis.call('HGET', K_CFG, 'pattern') then return -1 end
local limit = queue_limit()
local now
local queued = 0
for i = 2, #ARGV, 6 do
  local id, f, env = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local delay, key = tonumber(ARGV[i + 3]), ARGV[i + 4]
  local fresh = true
  if key ~= '' then
    fresh = redis.call('SET', IDEM .. key, id, 'NX', 'PX', ARGV[i + 5])
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
