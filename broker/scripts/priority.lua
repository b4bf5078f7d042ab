-- priority.lua: sets a facet's weight in the rotation; 0 pauses it.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] facet, ARGV[3] priority
-- Returns 1, or -1 when the queue does not exist.
local L = queue_limits()
if not L then return -1 end
local f, p = ARGV[2], tonumber(ARGV[3])
local old = redis.call('HGET', K_PRIO, f)
if old and string.sub(old, 1, 1) == '-' then
  -- Paused: keep the new priority for when the facet resumes.
  redis.call('HSET', K_PRIO, f, '-' .. p)
  return 1
end
if p == 1 then
  redis.call('HDEL', K_PRIO, f)
else
  redis.call('HSET', K_PRIO, f, p)
end
-- A facet never holds more tokens than its priority: a lowered priority
-- takes the extra ones out of the ring now (O(ring), as rare as the call),
-- so pulls need not check for them.
local extra = num(redis.call('HGET', K_TOKENS, f)) - p
if extra > 0 then
  redis.call('LREM', K_RING, p == 0 and 0 or extra, f)
  hincr(K_TOKENS, f, -extra)
end
for _ = 1, p do give_turn(f, L) end
return 1
