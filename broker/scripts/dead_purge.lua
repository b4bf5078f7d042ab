-- dead_purge.lua: deletes dead letters and their bodies.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- ARGV[2] how many of the oldest to take, or 0 to take the IDs in ARGV[3..]
-- Returns the number deleted.
local ids = {}
local n = tonumber(ARGV[2])
if n > 0 then
  ids = redis.call('ZRANGE', K_DEAD, 0, n - 1)
else
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local done = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', K_DEAD, id) == 1 then
    forget(id)
    done = done + 1
  end
end
return done
