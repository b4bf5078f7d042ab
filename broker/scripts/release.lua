-- release.lua: hands leased messages back, at the head of their facets,
-- without counting the attempt (a worker shutting down).
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- KEYS[2] the call's replay marker (see lib.lua)
-- ARGV[1] wake channel
-- ARGV[2] how long the replay marker is kept (ms)
-- ARGV[3..] leases, as pull.lua handed them out
-- Returns one code per message: 1 released, 0 gone, -1 lease lost. A call
-- run again (its reply was lost) changes nothing and answers as the first
-- run.
local seen = replayed()
if seen then
  local out = {}
  for code in string.gmatch(seen, '-?%d+') do out[#out + 1] = tonumber(code) end
  return out
end
local L = queue_limits() or limits_of(0)
-- Pushed back latest lease first, messages pulled together return to the
-- head of their facet in the order they were pulled.
local order = {}
for i = 3, #ARGV do
  local _, token = parse_lease(ARGV[i])
  order[#order + 1] = {i, token_seq(token)}
end
table.sort(order, function(a, b) return a[2] > b[2] end)
local out, changed = {}, false
for _, o in ipairs(order) do
  local i = o[1]
  local v = ARGV[i]
  local id, f, att = lease_of(v)
  local code = f
  if id then
    end_lease(v, f, L)
    set_attempts(id, att - 1)
    make_ready(id, f, L, true)
    code = 1
    changed = true
  end
  out[i - 2] = code
end
-- A first run that changed nothing needs no marker: a second run is then
-- just the call, arrived later.
if changed then wake_below_cap(capped(redis.call('HGET', K_CFG, F_CAP)), #ARGV - 2) end
if changed then remember(table.concat(out, ',')) end
return out
