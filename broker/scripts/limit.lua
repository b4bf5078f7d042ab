-- limit.lua: sets the most messages in flight per facet (0: no limit).
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] limit
-- Returns 1, or -1 when the queue does not exist.
if not queue_limit() then return -1 end
local limit = tonumber(ARGV[2])
redis.call('HSET', K_CFG, F_LIMIT, limit)
-- Facets held back by the old limit all have messages in flight; those now
-- below the limit get their turn back. (A lowered limit takes effect as
-- their tokens come up in the ring.)
for _, f in ipairs(redis.call('HKEYS', K_INFLIGHT)) do
  give_turn(f, limit)
end
return 1
