-- nack.lua: ends a lease because processing failed: the message is retried
-- after a delay, or dead-lettered when its attempts are spent.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- KEYS[2] the call's replay marker (see lib.lua)
-- ARGV[1] wake channel
-- ARGV[2] how long the replay marker is kept (ms)
-- ARGV[3] id, ARGV[4] lease token
-- ARGV[5] delay (ms), ARGV[6] max attempts (the message's, Message.MaxAttempts),
-- ARGV[7] dead-letter cap
-- ARGV[8] the error, kept with the dead letter
-- ARGV[9] '1' to dead-letter now, whatever the attempts
-- Returns 1 scheduled for retry, 2 dead-lettered, 0 gone, -1 lease lost. A
-- call run again (its reply was lost) changes nothing and answers as the
-- first run.
local seen = replayed()
if seen then return tonumber(seen) end
local id = ARGV[3]
local f, code = lease_of(id, ARGV[4])
if not f then return code end
local limit = queue_limit() or 0
local now = now_ms()
-- end_lease's ZREM is the first write: under maxmemory the rest may follow.
end_lease(id, f)
if ARGV[9] == '1' or num(redis.call('HGET', K_ATT, id)) >= tonumber(ARGV[6]) then
  dead_letter(id, ARGV[8], now, tonumber(ARGV[7]))
  give_turn(f, limit)
  remember(2)
  return 2
end
local delay = tonumber(ARGV[5])
if delay > 0 then
  redis.call('ZADD', K_DELAYED, now + delay, id)
  give_turn(f, limit)
else
  make_ready(id, f, limit, false)
end
remember(1)
return 1
