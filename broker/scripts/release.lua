-- release.lua: hands leased messages back, at the head of their facets,
-- without counting the attempt (a worker shutting down).
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel
-- ARGV[2..] pairs: id, lease token
-- Returns one code per message: 1 released, 0 gone, -1 lease lost.
local limit = queue_limit() or 0
-- Pushed back latest lease first, messages pulled together return to the
-- head of their facet in the order they were pulled.
local order = {}
for i = 2, #ARGV, 2 do order[#order + 1] = i end
table.sort(order, function(a, b)
  return (tonumber(ARGV[a + 1]) or 0) > (tonumber(ARGV[b + 1]) or 0)
end)
local out = {}
for _, i in ipairs(order) do
  local id = ARGV[i]
  local f, code = lease_of(id, ARGV[i + 1])
  if f then
    end_lease(id, f)
    hincr(K_ATT, id, -1)
    make_ready(id, f, limit, true)
    code = 1
  end
  out[i / 2] = code
end
return out
