-- dead_purge.lua: deletes dead letters and their bodies.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- ARGV[2] how many of the oldest to take, or 0 to take the IDs in ARGV[3..]
-- Returns the number deleted.
local ids = dead_ids(2)
local done = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', K_DEAD, id) == 1 then
    forget(id)
    done = done + 1
  end
end
return done
