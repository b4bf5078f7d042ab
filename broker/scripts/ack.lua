-- ack.lua: deletes messages whose processing is done.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2..] pairs: id, lease token
-- Returns one code per message: 1 acked, 0 already gone (a second ack),
-- -1 lease lost (expired or held by another; nothing changed).
local limit = queue_limit() or 0
local out = {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local f, code = lease_of(id, ARGV[i + 1])
  if f then
    end_lease(id, f)
    redis.call('HDEL', K_MSGS, id)
    redis.call('HDEL', K_ATT, id)
    -- Without a limit, a facet with ready messages always holds a turn; with
    -- one, this ack may free a facet that was at its limit.
    if limit > 0 then give_turn(f, limit) end
    code = 1
  end
  out[#out + 1] = code
end
return out
