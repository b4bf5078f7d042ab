-- priority.lua: sets a facet's weight in the rotation; 0 pauses it.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] facet, ARGV[3] priority
-- Returns 1, or -1 when the queue does not exist.
local limit = queue_limit()
if not limit then return -1 end
local f, p = ARGV[2], tonumber(ARGV[3])
if p == 1 then
  redis.call('HDEL', K_PRIO, f)
else
  redis.call('HSET', K_PRIO, f, p)
end
-- Tokens beyond a lowered priority drop out as they come up in the ring.
for _ = 1, p do give_turn(f, limit) end
return 1
