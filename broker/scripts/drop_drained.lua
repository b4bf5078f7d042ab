-- drop_drained.lua: deletes a retired partition that holds nothing any more:
-- no ready, leased, delayed or dead message, and no body.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- ARGV[2] the grace (ms) that must have passed since the partition was
--         retired, on this node's clock: the retire time is TIME of the
--         same node, so no other clock enters the decision.
-- Returns 1 when the partition is gone (or never existed), 0 when it still
-- holds something, is not retired, or was retired less than the grace ago.
local R = rate_lib()
local cfg = redis.call('HMGET', K_CFG, F_LIMIT, F_RETIRED)
if not cfg[1] then return 1 end
if not cfg[2] then return 0 end
local now, retired = now_ms(), tonumber(cfg[2]) or 0
if retired < 1e12 then
  -- Retired by a version that stored 1, not the time: the grace starts now.
  redis.call('HSET', K_CFG, F_RETIRED, now)
  return 0
end
if now - retired < tonumber(ARGV[2]) then return 0 end
if redis.call('EXISTS', K_MSGS) == 1 or redis.call('EXISTS', K_ACTIVE, K_BACKLOG) > 0 or
   redis.call('ZCARD', K_LEASED) > 0 or redis.call('ZCARD', K_DELAYED) > 0 or
   redis.call('ZCARD', K_DEAD) > 0 then
  return 0
end
redis.call('DEL', K_CFG, K_RING, K_TOKENS, K_PRIO, K_INFLIGHT, K_LIMITS, K_BACKLOGS, K_ACTIVE, K_DEEP, K_BACKLOG,
  K_MSGS, K_ATT, K_LEASE, K_LEASED, K_DELAYED, K_DEAD, K_DEADERR, K_SEQ, R.RATES, R.PARKED, R.TAT)
return 1
