-- ratelib.lua: keys and helpers of per-facet rate limits, prepended (after
-- lib.lua) only to the scripts that use them. They are built by rate_lib,
-- which pull calls only for a queue that has a rate limit: a queue without
-- one pays for defining this one function per call, nothing more.

-- rate_lib returns the rate-limit keys and helpers:
--   RATES   hash facet -> rate limit overriding cfg.rate ("0": none)
--   PARKED  zset facet -> when its rate limit frees its turn (ms)
--   TAT     zset facet -> theoretical arrival time of its next pull (GCRA, ms)
local function rate_lib()
  local R = rate_keys()

  -- spec parses a rate limit "<n>:<period ms>:<burst>" into the interval
  -- between two messages and the burst tolerance, both in ms (GCRA's T and
  -- tau), or returns nil for no limit. tau is at least one millisecond's
  -- worth less one message.
  function R.spec(s)
    if not s then return nil end
    local n, per, burst = string.match(s, '^(%d+):(%d+):(%d+)$')
    if not n or tonumber(n) == 0 then return nil end
    local every = tonumber(per) / tonumber(n)
    -- A rate of more than one a millisecond lets the messages of one
    -- millisecond go at once, whatever the burst: a pull takes its turns
    -- at one instant, so one at a time would hold it to a pull's rate.
    return every, math.max((math.max(tonumber(burst), 1) - 1) * every, 1 - every)
  end

  -- ms_text is a time in ms to the microsecond, as text, to store a TAT
  -- by: Redis turns a Lua number into 14 significant digits, a tenth of a
  -- millisecond today.
  function R.ms_text(ms)
    return string.format('%.3f', ms)
  end

  -- queue_spec is spec for the whole queue's limit (cfg.qrate): partition
  -- i of k takes 1/k of the rate and of the burst (at least 1), so that the
  -- partitions together keep to it (see Broker.SetQueueRateLimit).
  function R.queue_spec(s)
    local every, tau = R.spec(s)
    if not every then return nil end
    local k = tonumber(string.match(redis.call('HGET', K_CFG, F_SHARE) or '', '^%d+;(%d+)$') or '')
    if not k or k <= 1 then return every, tau end
    local burst = math.max(math.floor((tau / every + 1) / k), 1)
    return every * k, (burst - 1) * every * k
  end

  -- wait checks facet f's rate limit (GCRA) at time now. It returns nil and
  -- f's theoretical arrival time when f may be pulled now, or the time (ms)
  -- when it may and that arrival time.
  function R.wait(f, every, tau, now)
    local tat = math.max(tonumber(redis.call('ZSCORE', R.TAT, f)) or now, now)
    if tat - tau > now then return math.ceil(tat - tau), tat end
    return nil, tat
  end

  -- unpark gives facet f, whose rate limit parked its turn, its turns back:
  -- up to its priority, as give_turn allows.
  function R.unpark(f, L)
    for _ = 1, prio_of(f) do
      if not give_turn(f, L) then return end
    end
  end

  -- unpark_due gives back the turns of up to n parked facets whose rate
  -- limit has freed them, and forgets up to n arrival times that no longer
  -- matter (an arrival time in the past is the same as none).
  function R.unpark_due(now, L, n)
    local due = redis.call('ZRANGEBYSCORE', R.PARKED, '-inf', now, 'LIMIT', 0, n)
    if #due > 0 then
      redis.call('ZREMRANGEBYRANK', R.PARKED, 0, #due - 1)
      for _, f in ipairs(due) do R.unpark(f, L) end
    end
    local old = redis.call('ZRANGEBYSCORE', R.TAT, '-inf', now, 'LIMIT', 0, n)
    if #old > 0 then redis.call('ZREMRANGEBYRANK', R.TAT, 0, #old - 1) end
  end

  return R
end
