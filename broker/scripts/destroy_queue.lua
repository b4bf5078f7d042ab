-- destroy_queue.lua: deletes every key of a queue. Idempotency keys are left
-- to their expiry.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- Returns 1 when the queue existed, else 0.
local existed = redis.call('EXISTS', K_CFG)
local R = rate_lib()
-- A queue of layout 1 lists its facets in backlog (see migrate_layout).
for _, f in ipairs(redis.call('SMEMBERS', K_ACTIVE)) do
  redis.call('DEL', FACET .. f)
end
for _, f in ipairs(redis.call('ZRANGE', K_BACKLOG, 0, -1)) do
  redis.call('DEL', FACET .. f)
end
redis.call('DEL', K_CFG, K_RING, K_TOKENS, K_PRIO, K_INFLIGHT, K_LIMITS, K_BACKLOGS, K_ACTIVE, K_DEEP, K_BACKLOG,
  K_MSGS, K_ATT, K_LEASE, K_LEASED, K_DELAYED, K_DEAD, K_DEADERR, K_SEQ, R.RATES, R.PARKED, R.TAT)
return existed
