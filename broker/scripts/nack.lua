-- nack.lua: ends a lease because processing failed: the message is retried
-- after a delay, or dead-lettered when its attempts are spent.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- KEYS[2] the call's replay marker (see lib.lua)
-- ARGV[1] wake channel
-- ARGV[2] how long the replay marker is kept (ms)
-- ARGV[3] the lease, as pull.lua handed it out
-- ARGV[4] delay (ms), ARGV[5] max attempts (the message's, Message.MaxAttempts),
-- ARGV[6] dead-letter cap
-- ARGV[7] the error, kept with the dead letter
-- ARGV[8] '1' to dead-letter now, whatever the attempts
-- Returns 1 scheduled for retry, 2 dead-lettered, 0 gone, -1 lease lost. A
-- call run again (its reply was lost) changes nothing and answers as the
-- first run.
local seen = replayed()
if seen then return tonumber(seen) end
local v = ARGV[3]
local id, f, att = lease_of(v)
if not id then return f end
local limit = queue_limit() or 0
local now = now_ms()
-- end_lease's ZREM is the first write: under maxmemory the rest may follow.
end_lease(v, f, limit)
set_attempts(id, att)
if ARGV[8] == '1' or att >= tonumber(ARGV[5]) then
  dead_letter(id, ARGV[7], now, tonumber(ARGV[6]))
  give_turn(f, limit)
  remember(2)
  return 2
end
local delay = tonumber(ARGV[4])
if delay > 0 then
  redis.call('ZADD', K_DELAYED, now + delay, id)
  give_turn(f, limit)
else
  make_ready(id, f, limit, false)
end
remember(1)
return 1
