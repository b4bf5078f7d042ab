-- dead_requeue.lua: puts dead letters back at the tail of their facets with
-- their attempts reset and without a deadline: requeuing one is deciding to
-- run it, whether it expired or not.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- KEYS[2] the call's replay marker (see lib.lua)
-- ARGV[1] wake channel
-- ARGV[2] how long the replay marker is kept (ms)
-- ARGV[3] how many of the oldest to take, or 0 to take the IDs in ARGV[4..]
-- Returns the number requeued, or -1 when the queue does not exist. A call
-- run again (its reply was lost) takes no more: it answers as the first run.
local seen = replayed()
if seen then return tonumber(seen) end
local L = queue_limits()
if not L then return -1 end
local ids = dead_ids(3)
local done = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', K_DEAD, id) == 1 then
    redis.call('HDEL', K_DEADERR, id)
    set_attempts(id, 0)
    local env = redis.call('HGET', K_MSGS, id)
    local f = envelope_facet(env)
    if f and string.byte(env, 1) == 51 then
      redis.call('HSET', K_MSGS, id, without_deadline(env))
    end
    if f then
      make_ready(id, f, L, false)
      done = done + 1
    else
      forget(id)
    end
  end
end
-- A first run that changed nothing needs no marker: a second run is then
-- just the call, arrived later.
if done > 0 then remember(done) end
return done
