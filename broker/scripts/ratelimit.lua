-- ratelimit.lua: sets a queue's default rate limit per facet, one facet's
-- own, which overrides the default, or the rate limit of the whole queue.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2] facet, or '' for the queue's default
-- ARGV[3] the limit "<n>:<period ms>:<burst>"; "0" for none (a facet's own:
--         no limit, whatever the default); '' to clear (a facet's own: the
--         default applies again)
-- ARGV[4] '1' to set the limit of the whole queue (cfg.qrate) instead,
--         with ARGV[2] ''
-- Returns 1, or -1 when the queue does not exist.
local L = queue_limits()
if not L then return -1 end
local R = rate_lib()
local f, spec = ARGV[2], ARGV[3]
if ARGV[4] == '1' then
  if spec == '' or spec == '0' then
    redis.call('HDEL', K_CFG, F_QRATE, F_QTAT)
  else
    -- The queue starts afresh under the new limit, as if idle.
    redis.call('HSET', K_CFG, F_QRATE, spec)
    redis.call('HDEL', K_CFG, F_QTAT)
  end
  mark_layers()
  redis.call('PUBLISH', WAKE, '')
elseif f == '' then
  if spec == '' or spec == '0' then
    redis.call('HDEL', K_CFG, F_RATE)
  else
    redis.call('HSET', K_CFG, F_RATE, spec)
  end
  -- Every facet starts afresh under the new limit: parked turns come back
  -- now (O(parked facets), as rare as this call).
  for _, pf in ipairs(redis.call('ZRANGE', R.PARKED, 0, -1)) do R.unpark(pf, L) end
  redis.call('DEL', R.PARKED, R.TAT)
else
  if spec == '' then
    redis.call('HDEL', R.RATES, f)
  else
    redis.call('HSET', R.RATES, f, spec)
  end
  -- The facet starts afresh under its new limit, as if idle.
  redis.call('ZREM', R.TAT, f)
  if redis.call('ZREM', R.PARKED, f) == 1 then R.unpark(f, L) end
end
-- cfg.rated tells pull whether to look at rate limits at all.
local facets_rated = redis.call('HEXISTS', K_CFG, F_RATE) == 1 or redis.call('EXISTS', R.RATES) == 1
if facets_rated or redis.call('HEXISTS', K_CFG, F_QRATE) == 1 then
  redis.call('HSET', K_CFG, F_RATED, 1)
else
  redis.call('HDEL', K_CFG, F_RATED)
end
if not facets_rated then
  for _, pf in ipairs(redis.call('ZRANGE', R.PARKED, 0, -1)) do R.unpark(pf, L) end
  redis.call('DEL', R.PARKED, R.TAT)
end
return 1
