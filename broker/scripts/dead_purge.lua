-- dead_purge.lua: deletes dead letters and their bodies.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- KEYS[2] the call's replay marker (see lib.lua)
-- ARGV[1] wake channel (unused)
-- ARGV[2] how long the replay marker is kept (ms)
-- ARGV[3] how many of the oldest to take, or 0 to take the IDs in ARGV[4..]
-- Returns the number deleted. A call run again (its reply was lost) takes
-- no more: it answers as the first run.
local seen = replayed()
if seen then return tonumber(seen) end
local ids = dead_ids(3)
local done = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', K_DEAD, id) == 1 then
    forget(id)
    done = done + 1
  end
end
-- A first run that changed nothing needs no marker: a second run is then
-- just the call, arrived later.
if done > 0 then remember(done) end
return done
