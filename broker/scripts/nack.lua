-- nack.lua: ends a lease because processing failed: the message is retried
-- after a delay, or dead-lettered when its attempts are spent.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] id, ARGV[3] lease token
-- ARGV[4] delay (ms), ARGV[5] max attempts, ARGV[6] dead-letter cap
-- ARGV[7] the error, kept with the dead letter
-- ARGV[8] '1' to dead-letter now, whatever the attempts
-- Returns 1 scheduled for retry, 2 dead-lettered, 0 gone, -1 lease lost.
local id = ARGV[2]
local f, code = lease_of(id, ARGV[3])
if not f then return code end
local limit = queue_limit() or 0
local now = now_ms()
end_lease(id, f)
if ARGV[8] == '1' or num(redis.call('HGET', K_ATT, id)) >= tonumber(ARGV[5]) then
  dead_letter(id, ARGV[7], now, tonumber(ARGV[6]))
  give_turn(f, limit)
  return 2
end
local delay = tonumber(ARGV[4])
if delay > 0 then
  redis.call('ZADD', K_DELAYED, now + delay, id)
  give_turn(f, limit)
else
  make_ready(id, f, limit, false)
end
return 1
