-- limit.lua: sets the most messages in flight per facet (0: no limit).
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] limit
-- Returns 1, or -1 when the queue does not exist.
if not queue_limit() then return -1 end
local limit = tonumber(ARGV[2])
redis.call('HSET', K_CFG, F_LIMIT, limit)
-- The facets' in-flight counts are kept only under a limit, so pulls and
-- acks of a queue without one spend nothing on them: they are counted
-- again from the leases now (O(messages in flight)), once per change.
local held = redis.call('HKEYS', K_INFLIGHT)
redis.call('DEL', K_INFLIGHT)
if limit > 0 then
  for _, v in ipairs(redis.call('ZRANGE', K_LEASED, 0, -1)) do
    local id, _, _, f = parse_lease(v)
    if id then hincr(K_INFLIGHT, f, 1) end
  end
end
-- Facets held back by the old limit all have messages in flight; those now
-- below the limit get their turn back. (A lowered limit takes effect as
-- their tokens come up in the ring.)
for _, f in ipairs(held) do
  give_turn(f, limit)
end
return 1
