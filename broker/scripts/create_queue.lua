-- create_queue.lua: creates a queue, or changes its pattern, and routes to it.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- ARGV[2] pattern
-- Returns 1.
redis.call('HSET', K_CFG, 'pattern', ARGV[2])
redis.call('HSETNX', K_CFG, 'limit', 0)
return 1
