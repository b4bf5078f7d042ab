-- registry.lua: records a queue's pattern in the registry (or removes it)
-- and bumps the registry's version, so every producer reloads its cache.
-- KEYS[1] registry hash "<ns>:{~registry}:queues"
-- KEYS[2] registry version "<ns>:{~registry}:version"
-- ARGV[1] queue name, ARGV[2] pattern, or '' to remove the queue
-- ARGV[3] '1' to replace another pattern the queue has, else ''
-- Returns the version: bumped when the registry changed, as it was when the
-- queue has ARGV[2] already (a call run again after a lost reply answers
-- so). When the queue has another pattern and ARGV[3] is not '1', changes
-- nothing and returns {pattern}, the queue's pattern.
--
-- A version key that is missing (a new namespace, or a Redis that restarted
-- empty) starts at Redis's clock in microseconds, not at 1: a producer that
-- cached the lost registry at version n must not take a new registry that
-- reached n again for the one it knows.
local function bump()
  if redis.call('EXISTS', KEYS[2]) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
  end
  return redis.call('INCR', KEYS[2])
end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  if not cur then return tonumber(redis.call('GET', KEYS[2]) or 0) end
  redis.call('HDEL', KEYS[1], ARGV[1])
  return bump()
end
if cur == ARGV[2] then return tonumber(redis.call('GET', KEYS[2]) or 0) end
if cur and ARGV[3] ~= '1' then return {cur} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return bump()
