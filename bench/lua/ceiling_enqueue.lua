-- ceiling_enqueue.lua: queue a batch of messages on their facets' lists,
-- for the ceiling program (ceiling.go).
--
-- KEYS[1]  the ring: a list of the facets that hold messages, each once
-- ARGV[1]  the prefix of the facets' lists' keys (the facet's name follows)
-- ARGV[2k], ARGV[2k+1]  for k = 1, 2, ...: a message's facet, then the
--          message (its ID, a space, its body)
--
-- Each facet's messages are appended with one RPUSH; a facet whose list
-- was empty joins the ring's tail, all of them with one RPUSH. Returns the
-- number of messages queued.
local prefix = ARGV[1]
local byFacet, order = {}, {}
for i = 2, #ARGV, 2 do
  local facet = ARGV[i]
  local msgs = byFacet[facet]
  if not msgs then
    msgs = {}
    byFacet[facet] = msgs
    order[#order + 1] = facet
  end
  msgs[#msgs + 1] = ARGV[i + 1]
end
-- unpack takes a bounded number of values: push in chunks.
local chunk = 1000
local joined = {}
for _, facet in ipairs(order) do
  local msgs = byFacet[facet]
  local len = 0
  for i = 1, #msgs, chunk do
    len = redis.call('RPUSH', prefix .. facet, unpack(msgs, i, math.min(i + chunk - 1, #msgs)))
  end
  if len == #msgs then
    joined[#joined + 1] = facet
  end
end
for i = 1, #joined, chunk do
  redis.call('RPUSH', KEYS[1], unpack(joined, i, math.min(i + chunk - 1, #joined)))
end
return (#ARGV - 1) / 2
