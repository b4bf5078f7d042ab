-- release.lua: hands leased messages back, at the head of their facets,
-- without counting the attempt (a worker shutting down).
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- KEYS[2] the call's replay marker (see lib.lua)
-- ARGV[1] wake channel
-- ARGV[2] how long the replay marker is kept (ms)
-- ARGV[3..] pairs: id, lease token
-- Returns one code per message: 1 released, 0 gone, -1 lease lost. A call
-- run again (its reply was lost) changes nothing and answers as the first
-- run.
local seen = replayed()
if seen then
  local out = {}
  for code in string.gmatch(seen, '-?%d+') do out[#out + 1] = tonumber(code) end
  return out
end
local limit = queue_limit() or 0
-- Pushed back latest lease first, messages pulled together return to the
-- head of their facet in the order they were pulled.
local order = {}
for i = 3, #ARGV, 2 do order[#order + 1] = i end
table.sort(order, function(a, b) return token_seq(ARGV[a + 1]) > token_seq(ARGV[b + 1]) end)
local out, changed = {}, false
for _, i in ipairs(order) do
  local id = ARGV[i]
  local f, code = lease_of(id, ARGV[i + 1])
  if f then
    end_lease(id, f)
    hincr(K_ATT, id, -1)
    make_ready(id, f, limit, true)
    code = 1
    changed = true
  end
  out[(i - 1) / 2] = code
end
-- A first run that changed nothing needs no marker: a second run is then
-- just the call, arrived later.
if changed then remember(table.concat(out, ',')) end
return out
