-- registry_load.lua: reads the registry, its version and the partitionings
-- at one instant. It writes nothing, so Redis runs it even at maxmemory
-- under noeviction, where a MULTI/EXEC of the same reads is refused.
-- KEYS[1] registry hash "<ns>:{~registry}:queues"
-- KEYS[2] registry version "<ns>:{~registry}:version"
-- KEYS[3] partitionings hash "<ns>:{~registry}:parts"
-- Returns {queues, version, parts}: queues and parts as flat HGETALL
-- arrays, version as a string ('' when the registry was never changed).
return {
  redis.call('HGETALL', KEYS[1]),
  redis.call('GET', KEYS[2]) or '',
  redis.call('HGETALL', KEYS[3]),
}
