-- ceiling_pull.lua: lease up to n messages, one from each facet in turn,
-- for the ceiling program (ceiling.go).
--
-- KEYS[1]  the ring: a list of the facets that hold messages, each once
-- KEYS[2]  the leases: a sorted set of leased messages, scored by their
--          deadline in milliseconds of Redis's clock
-- ARGV[1]  the prefix of the facets' lists' keys
-- ARGV[2]  n, the most messages to lease
-- ARGV[3]  the lease's length in milliseconds
--
-- Each turn moves the ring's head facet to its tail (LMOVE) and takes the
-- first message of its list; a facet whose list is then empty leaves the
-- ring (it is at the tail, so LREM from the tail finds it first). All the
-- leases are written with one ZADD. Returns a flat array: facet, message,
-- facet, message, ...
local prefix = ARGV[1]
local n = tonumber(ARGV[2])
local t = redis.call('TIME')
local deadline = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[3])
local out, leases = {}, {}
while #leases < 2 * n do
  local facet = redis.call('LMOVE', KEYS[1], KEYS[1], 'LEFT', 'RIGHT')
  if not facet then
    break
  end
  local key = prefix .. facet
  local msg = redis.call('LPOP', key)
  if msg then
    out[#out + 1] = facet
    out[#out + 1] = msg
    leases[#leases + 1] = deadline
    leases[#leases + 1] = msg
  end
  if not msg or redis.call('LLEN', key) == 0 then
    redis.call('LREM', KEYS[1], -1, facet)
  end
end
if #leases > 0 then
  redis.call('ZADD', KEYS[2], unpack(leases))
end
return out
