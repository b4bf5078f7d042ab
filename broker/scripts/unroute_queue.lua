-- unroute_queue.lua: stops routing new messages to a queue; what it holds
-- stays and can still be pulled.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- Returns 1 when the queue was routed, else 0.
return redis.call('HDEL', K_CFG, F_PATTERN)
