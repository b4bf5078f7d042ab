-- partitions.lua: records how a queue is split into partitions, and bumps
-- the registry's version so every producer and puller reloads it.
-- KEYS[1] registry hash "<ns>:{~registry}:queues" (unused; same slot)
-- KEYS[2] registry version "<ns>:{~registry}:version"
-- KEYS[3] partitions hash "<ns>:{~registry}:parts": queue ->
--         "<count>;<generation>;<since ms>;<draining>,<draining>..."
-- ARGV[1] queue
-- ARGV[2] 'set': ARGV[3] the generation the change starts from, ARGV[4] the
--         new count (of the next generation), ARGV[5..] the partitions of
--         the old generation, which start draining;
--         'drained': ARGV[3] a draining partition now deleted;
--         'delete': forget the queue's partitioning.
-- Returns the new version, or -1 when 'set' does not start from the
-- queue's generation (another change came first).
local q, op = ARGV[1], ARGV[2]
if op == 'delete' then
  redis.call('HDEL', KEYS[3], q)
  return redis.call('INCR', KEYS[2])
end
local cur = redis.call('HGET', KEYS[3], q)
if not cur and op ~= 'set' then return tonumber(redis.call('GET', KEYS[2]) or 0) end
cur = cur or '1;0;0;'
local count, gen, since, rest = string.match(cur, '^(%d+);(%d+);(%d+);(.*)$')
if not count then count, gen, since, rest = '1', '0', '0', '' end
local draining = {}
for name in string.gmatch(rest, '[^,]+') do draining[#draining + 1] = name end
if op == 'set' then
  if ARGV[3] ~= gen then return -1 end
  -- Oldest first: pulls drain them in this order.
  for i = 5, #ARGV do draining[#draining + 1] = ARGV[i] end
  count, gen = ARGV[4], tostring(tonumber(gen) + 1)
  local t = redis.call('TIME')
  since = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
elseif op == 'drained' then
  local keep = {}
  for _, name in ipairs(draining) do
    if name ~= ARGV[3] then keep[#keep + 1] = name end
  end
  draining = keep
end
redis.call('HSET', KEYS[3], q, count .. ';' .. gen .. ';' .. since .. ';' .. table.concat(draining, ','))
return redis.call('INCR', KEYS[2])
