-- drop_drained.lua: deletes a retired partition that holds nothing any more:
-- no ready, leased, delayed or dead message, and no body.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- Returns 1 when the partition is gone (or never existed), 0 when it still
-- holds something or is not retired.
local R = rate_lib()
local cfg = redis.call('HMGET', K_CFG, 'limit', 'retired')
if not cfg[1] then return 1 end
if not cfg[2] then return 0 end
if redis.call('EXISTS', K_MSGS) == 1 or redis.call('ZCARD', K_BACKLOG) > 0 or
   redis.call('ZCARD', K_LEASED) > 0 or redis.call('ZCARD', K_DELAYED) > 0 or
   redis.call('ZCARD', K_DEAD) > 0 then
  return 0
end
redis.call('DEL', K_CFG, K_RING, K_TOKENS, K_PRIO, K_INFLIGHT, K_BACKLOG,
  K_MSGS, K_ATT, K_LEASE, K_LEASED, K_DELAYED, K_DEAD, K_DEADERR, K_SEQ, R.RATES, R.PARKED, R.TAT)
return 1
