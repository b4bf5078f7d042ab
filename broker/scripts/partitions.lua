-- partitions.lua: records how a queue is split into partitions, and bumps
-- the registry's version so every producer and puller reloads it.
-- KEYS[1] registry hash "<ns>:{~registry}:queues" (unused; same slot)
-- KEYS[2] registry version "<ns>:{~registry}:version"
-- KEYS[3] partitions hash "<ns>:{~registry}:parts": queue ->
--         "<count>;<generation>;<since ms>;<draining>,<draining>..."
-- KEYS[4] changes hash "<ns>:{~registry}:changing": queue ->
--         "<token>;<deadline ms>" while a change of count is under way
--         (between 'prepare' and 'set'); settings wait for it to end (see
--         Broker.queueSetting). The deadline is on this node's clock.
--         "<queue>/set" holds the token of the queue's last 'set', so that
--         a 'prepare' or 'set' run again (its reply was lost) answers as
--         the first run did.
-- ARGV[1] queue
-- ARGV[2] 'prepare': ARGV[3] the generation the change starts from, ARGV[4]
--         a token naming the change, ARGV[5] how long (ms) it may take;
--         returns 1, or -1 when the queue is not of that generation or
--         another change is under way;
--         'set': ARGV[3] the generation the change starts from, ARGV[4] the
--         new count (of the next generation), ARGV[5] the token given to
--         'prepare', ARGV[6..] the partitions of the old generation, which
--         start draining; returns -1 when 'set' does not start from the
--         queue's generation or the change's 'prepare' is not the one under
--         way (another came first, or it took longer than it was given);
--         'abort': ARGV[3] a token: ends that change, if under way;
--         'state': returns {partitioning or '', 1 while a change is under
--         way else 0}, and writes nothing;
--         'drained': ARGV[3] a draining partition now deleted;
--         'delete': forget the queue's partitioning.
-- Returns the new version unless said otherwise.
local q, op = ARGV[1], ARGV[2]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- bump bumps the registry's version; a missing one starts at Redis's clock
-- in microseconds, as in registry.lua (a Redis that restarted empty must
-- not reach a version a producer cached before).
local function bump()
  if redis.call('EXISTS', KEYS[2]) == 0 then
    local t = redis.call('TIME')
    redis.call('SET', KEYS[2], t[1] .. string.format('%06d', tonumber(t[2])))
  end
  return redis.call('INCR', KEYS[2])
end
-- change is the token of the change under way, or nil.
local function change()
  local v = redis.call('HGET', KEYS[4], q)
  if not v then return nil end
  local token, deadline = string.match(v, '^(.*);(%d+)$')
  if not token or tonumber(deadline) <= now_ms() then return nil end
  return token
end
if op == 'state' then
  return {redis.call('HGET', KEYS[3], q) or '', change() and 1 or 0}
elseif op == 'abort' then
  if change() == ARGV[3] then redis.call('HDEL', KEYS[4], q) end
  return 1
elseif op == 'delete' then
  redis.call('HDEL', KEYS[3], q)
  redis.call('HDEL', KEYS[4], q, q .. '/set')
  return bump()
end
local cur = redis.call('HGET', KEYS[3], q)
if not cur and op ~= 'set' and op ~= 'prepare' then return tonumber(redis.call('GET', KEYS[2]) or 0) end
cur = cur or '1;0;0;'
local count, gen, since, rest = string.match(cur, '^(%d+);(%d+);(%d+);(.*)$')
if not count then count, gen, since, rest = '1', '0', '0', '' end
if op == 'prepare' then
  -- Run again: its own change is under way, or already switched.
  local mine = change() == ARGV[4] or redis.call('HGET', KEYS[4], q .. '/set') == ARGV[4]
  if mine then return 1 end
  if ARGV[3] ~= gen or change() then return -1 end
  redis.call('HSET', KEYS[4], q, ARGV[4] .. ';' .. (now_ms() + tonumber(ARGV[5])))
  return 1
end
local draining = {}
for name in string.gmatch(rest, '[^,]+') do draining[#draining + 1] = name end
if op == 'set' then
  if redis.call('HGET', KEYS[4], q .. '/set') == ARGV[5] then
    return tonumber(redis.call('GET', KEYS[2]) or 0) -- run again: it switched
  end
  if ARGV[3] ~= gen or change() ~= ARGV[5] then return -1 end
  redis.call('HDEL', KEYS[4], q)
  redis.call('HSET', KEYS[4], q .. '/set', ARGV[5])
  -- Oldest first: pulls drain them in this order.
  for i = 6, #ARGV do draining[#draining + 1] = ARGV[i] end
  count, gen = ARGV[4], tostring(tonumber(gen) + 1)
  since = tostring(now_ms())
elseif op == 'drained' then
  local keep = {}
  for _, name in ipairs(draining) do
    if name ~= ARGV[3] then keep[#keep + 1] = name end
  end
  draining = keep
end
redis.call('HSET', KEYS[3], q, count .. ';' .. gen .. ';' .. since .. ';' .. table.concat(draining, ','))
return bump()
