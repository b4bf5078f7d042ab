-- dead_requeue.lua: puts dead letters back at the tail of their facets with
-- their attempts reset.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] how many of the oldest to take, or 0 to take the IDs in ARGV[3..]
-- Returns the number requeued, or -1 when the queue does not exist.
local limit = queue_limit()
if not limit then return -1 end
local ids = dead_ids(2)
local done = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', K_DEAD, id) == 1 then
    redis.call('HDEL', K_DEADERR, id)
    redis.call('HDEL', K_ATT, id)
    local f = envelope_facet(redis.call('HGET', K_MSGS, id))
    if f then
      make_ready(id, f, limit, false)
      done = done + 1
    else
      forget(id)
    end
  end
end
return done
