-- create_queue.lua: creates a queue, or changes its pattern, and routes to it.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- ARGV[2] pattern
-- ARGV[3] '1' to replace another pattern the queue has, else ''
-- Returns 1 when the queue has ARGV[2] now (also when it had it already: a
-- call run again after a lost reply answers so). When the queue has another
-- pattern and ARGV[3] is not '1', changes nothing and returns {pattern},
-- the queue's pattern: the check and the write are one step, so of two
-- RegisterQueue calls racing with different patterns one gets the error.
local cur = redis.call('HGET', K_CFG, F_PATTERN)
if cur and cur ~= ARGV[2] and ARGV[3] ~= '1' then return {cur} end
redis.call('HSET', K_CFG, F_PATTERN, ARGV[2])
redis.call('HSETNX', K_CFG, F_LIMIT, 0)
return 1
