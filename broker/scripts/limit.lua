-- limit.lua: sets the in-flight limits of a queue: the most messages in
-- flight per facet (0: no limit), one facet's own limit, or strict order.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] 'default', 'facet' or 'ordered'
-- default: ARGV[3] the queue's limit per facet.
-- facet: ARGV[3] the facet, ARGV[4] its own limit ("0": none, whatever the
--   queue's), or '' to clear it (the queue's applies again).
-- ordered: ARGV[3] '1' for strict order per facet (every facet's limit is
--   1, and a retry keeps its facet's slot while it waits), '' for none.
-- Returns 1, or -1 when the queue does not exist.
if not queue_limits() then return -1 end
local op = ARGV[2]
if op == 'default' then
  redis.call('HSET', K_CFG, F_LIMIT, ARGV[3])
elseif op == 'facet' then
  if ARGV[4] == '' then
    redis.call('HDEL', K_LIMITS, ARGV[3])
  else
    redis.call('HSET', K_LIMITS, ARGV[3], ARGV[4])
  end
  if redis.call('EXISTS', K_LIMITS) == 1 then
    redis.call('HSET', K_CFG, F_OWN_LIMITS, 1)
  else
    redis.call('HDEL', K_CFG, F_OWN_LIMITS)
  end
elseif ARGV[3] == '1' then
  redis.call('HSET', K_CFG, F_ORDERED, 1)
else
  redis.call('HDEL', K_CFG, F_ORDERED)
end
mark_layers()
local L = queue_limits()
-- The facets' in-flight counts are kept only under a limit, so pulls and
-- acks of a queue without one spend nothing on them: they are counted
-- again from the leases now (O(messages in flight)), once per change, and
-- under strict order from the retries waiting too (O(delayed messages)).
local held = redis.call('HKEYS', K_INFLIGHT)
redis.call('DEL', K_INFLIGHT)
if L.on then
  for _, v in ipairs(redis.call('ZRANGE', K_LEASED, 0, -1)) do
    local id, _, _, f = parse_lease(v)
    if id then hincr(K_INFLIGHT, f, 1) end
  end
end
if L.ordered then
  for _, id in ipairs(redis.call('ZRANGE', K_DELAYED, 0, -1)) do
    if redis.call('HEXISTS', K_MSGS, F_ATT .. id) == 1 then
      local f = envelope_facet(redis.call('HGET', K_MSGS, id))
      if f then hincr(K_INFLIGHT, f, 1) end
    end
  end
end
-- Facets held back by the old limits all have messages in flight; those now
-- below their limit get their turn back. (A lowered limit takes effect as
-- their tokens come up in the ring.)
if op == 'facet' then held[#held + 1] = ARGV[3] end
for _, f in ipairs(held) do
  give_turn(f, L)
end
return 1
