-- ack.lua: deletes messages whose processing is done.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2..] leases, as pull.lua handed them out
-- Returns one code per message: 1 acked, 0 already gone (a second ack),
-- -1 lease lost (expired or held by another; nothing changed).
local cfg = redis.call('HMGET', K_CFG, F_LIMIT, F_OWN_LIMITS, F_ORDERED, F_CAP)
local L = limits_of(cfg[1], cfg[2], cfg[3])
local cap = cfg[4] and capped(cfg[4]) or 0
local out = {}
local acked = {} -- lease or message ID -> true, once acked by this call
-- Leases are proven with one ZMSCORE per chunk and ended with one ZREM and
-- one HDEL: only the holder has a lease's member. unpack's arguments go on
-- Lua's stack, which holds a few thousand.
local CHUNK = 500
for from = 2, #ARGV, CHUNK do
  local to = math.min(from + CHUNK - 1, #ARGV)
  local held = redis.call('ZMSCORE', K_LEASED, unpack(ARGV, from, to))
  local leases, ids = {}, {}
  for i = from, to do
    local v = ARGV[i]
    local id, _, _, f = parse_lease(v)
    local code
    if id and held[i - from + 1] and not acked[v] then
      code = 1
      acked[v], acked[id] = true, true
      leases[#leases + 1], ids[#ids + 1] = v, id
      if L.on then
        hincr(K_INFLIGHT, f, -1)
        -- This ack may free a facet that was at its limit; without a limit,
        -- a facet with ready messages always holds a turn.
        give_turn(f, L)
      end
    elseif id and (acked[id] or redis.call('HEXISTS', K_MSGS, id) == 0) then
      code = 0
    else
      code = -1
    end
    out[#out + 1] = code
  end
  if #leases > 0 then
    redis.call('ZREM', K_LEASED, unpack(leases))
    redis.call('HDEL', K_MSGS, unpack(ids))
    wake_below_cap(cap, #leases)
  end
end
return out
