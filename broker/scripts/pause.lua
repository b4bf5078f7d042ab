-- pause.lua: pauses or resumes a whole queue, or one facet of it. A paused
-- queue leases nothing but still takes deliveries; a paused facet gets no
-- turn and keeps its priority for when it resumes.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] facet, or '' for the whole queue
-- ARGV[3] '1' to pause, '0' to resume
-- Returns 1, or -1 when the queue does not exist.
local L = queue_limits()
if not L then return -1 end
local f, pause = ARGV[2], ARGV[3] == '1'
if f == '' then
  if pause then
    redis.call('HSET', K_CFG, F_PAUSED, 1)
  elseif redis.call('HDEL', K_CFG, F_PAUSED) == 1 then
    redis.call('PUBLISH', WAKE, '')
  end
  return 1
end
local v = redis.call('HGET', K_PRIO, f) or '1'
local paused = string.sub(v, 1, 1) == '-'
if pause and not paused then
  redis.call('HSET', K_PRIO, f, '-' .. v)
  drop_turns(f)
elseif not pause and paused then
  local p = tonumber(string.sub(v, 2))
  if p == 1 then
    redis.call('HDEL', K_PRIO, f)
  else
    redis.call('HSET', K_PRIO, f, p)
  end
  for _ = 1, p do give_turn(f, L) end
end
return 1
