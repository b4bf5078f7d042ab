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
local cfg = redis.call('HMGET', K_CFG, F_LIMIT, F_LAYERS)
local lay = cfg[2] and redis.call('HMGET', K_CFG, F_OWN_LIMITS, F_ORDERED, F_CAP) or {}
local L = limits_of(cfg[1], lay[1], lay[2])
local now = now_ms()
-- end_lease's ZREM is the first write: under maxmemory the rest may follow.
end_lease(v, f, L)
set_attempts(id, att)
if lay[3] then wake_below_cap(capped(lay[3]), 1) end
if ARGV[8] == '1' or att >= tonumber(ARGV[5]) then
  dead_letter(id, ARGV[7], now, tonumber(ARGV[6]))
  give_turn(f, L)
  remember(2)
  return 2
end
local delay = tonumber(ARGV[4])
if L.ordered and delay > 0 then
  -- Strict order: the retry keeps its facet's slot while it waits, so no
  -- later message of the facet starts before it (reclaim frees the slot
  -- when the retry is due, and puts it first).
  redis.call('ZADD', K_DELAYED, now + delay, id)
  hincr(K_INFLIGHT, f, 1)
elseif delay > 0 then
  redis.call('ZADD', K_DELAYED, now + delay, id)
  give_turn(f, L)
else
  -- Under strict order a retry goes first, before the facet's others.
  make_ready(id, f, L, L.ordered)
end
remember(1)
return 1
