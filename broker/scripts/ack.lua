-- ack.lua: deletes messages whose processing is done.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2..] leases, as pull.lua handed them out
-- Returns one code per message: 1 acked, 0 already gone (a second ack),
-- -1 lease lost (expired or held by another; nothing changed).
local limit = queue_limit() or 0
local out = {}
for i = 2, #ARGV do
  local v = ARGV[i]
  local code = 1
  -- ZREM is the proof and the end of the lease at once: only the holder
  -- has its member.
  if redis.call('ZREM', K_LEASED, v) == 1 then
    local id, _, _, f = parse_lease(v)
    redis.call('HDEL', K_MSGS, id)
    if limit > 0 then
      hincr(K_INFLIGHT, f, -1)
      -- This ack may free a facet that was at its limit; without a limit,
      -- a facet with ready messages always holds a turn.
      give_turn(f, limit)
    end
  else
    local id = parse_lease(v)
    code = (id and redis.call('HEXISTS', K_MSGS, id) == 0) and 0 or -1
  end
  out[#out + 1] = code
end
return out
