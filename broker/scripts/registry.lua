-- registry.lua: records a queue's pattern in the registry (or removes it)
-- and bumps the registry's version, so every producer reloads its cache.
-- KEYS[1] registry hash "<ns>:{~registry}:queues"
-- KEYS[2] registry version "<ns>:{~registry}:version"
-- ARGV[1] queue name, ARGV[2] pattern, or '' to remove the queue
-- Returns the new version.
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return redis.call('INCR', KEYS[2])
