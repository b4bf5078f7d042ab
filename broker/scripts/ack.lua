-- ack.lua: deletes messages whose processing is done.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2..] leases, as pull.lua handed them out
-- Returns one code per message: 1 acked, 0 already gone (a second ack),
-- -1 lease lost (expired or held by another; nothing changed).
local cfg = redis.call('HMGET', K_CFG, F_LIMIT, F_LAYERS)
local lay = cfg[2] and redis.call('HMGET', K_CFG, F_OWN_LIMITS, F_ORDERED, F_CAP) or {}
local L = limits_of(cfg[1], lay[1], lay[2])
-- free_slot gives a facet back the slot of a lease ended, when the queue
-- keeps in-flight counts (an in-flight limit or strict order): this ack
-- may free a facet that was at its limit (without a limit, a facet with
-- ready messages always holds a turn). wake tells idle workers when the
-- acks take the queue below its global cap.
local free_slot, wake
if L.on then
  --@defs begin
  free_slot = function(f)
    hincr(K_INFLIGHT, f, -1)
    give_turn(f, L)
  end
  --@defs end
end
if lay[3] then
  --@defs begin
  local cap = capped(lay[3])
  wake = function(freed) wake_below_cap(cap, freed) end
  --@defs end
end
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
      if free_slot then free_slot(f) end
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
    if wake then wake(#leases) end
  end
end
return out
