-- limit.lua: sets the most messages in flight per facet (0: no limit).
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] limit
-- Returns 1, or -1 when the queue does not exist.
-- A facet held back by a lower limit gets its turn back with its next ack,
-- nack or expired lease, so no facet needs to be visited here.
if not queue_limit() then return -1 end
redis.call('HSET', K_CFG, 'limit', ARGV[2])
return 1
