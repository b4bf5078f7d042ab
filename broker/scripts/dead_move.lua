-- dead_move.lua: moves the dead letters of a retired partition to the
-- partitions of the current layout (see Broker.moveDead), in three steps:
-- export from the old one, import into the new ones, forget in the old one.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- KEYS[2] the call's replay marker (see lib.lua)
-- ARGV[1] wake channel (unused)
-- ARGV[2] how long the replay marker is kept (ms)
-- ARGV[3] 'export': ARGV[4] n; returns the n oldest dead letters, five
--         fields each: id, time of death (ms), envelope, attempts, reason
--         ('' for a missing field);
--         'import': ARGV[4] the queue's dead-letter cap, ARGV[5..] five
--         fields per letter as 'export' gives them; files each (again:
--         importing twice changes nothing more) and trims the oldest beyond
--         this partition's share of the cap; returns how many it filed;
--         'forget': ARGV[4..] IDs; deletes those dead letters, and returns
--         the IDs that were not dead letters here (requeued or purged since
--         'export': the caller takes their imported copies back). A forget
--         run again (its reply was lost) answers as the first run: else the
--         IDs it deleted would look requeued, and their copies be taken back.
-- Every op returns -1 when the queue does not exist.
if not queue_limits() then return -1 end
local op = ARGV[3]
if op == 'forget' then
  local seen = replayed()
  if seen then
    local missing = {}
    for id in string.gmatch(seen, '%S+') do missing[#missing + 1] = id end
    return missing
  end
end
if op == 'export' then
  local out = {}
  local zs = redis.call('ZRANGE', K_DEAD, 0, tonumber(ARGV[4]) - 1, 'WITHSCORES')
  for i = 1, #zs, 2 do
    local id = zs[i]
    out[#out + 1] = id
    out[#out + 1] = zs[i + 1]
    out[#out + 1] = redis.call('HGET', K_MSGS, id) or ''
    out[#out + 1] = redis.call('HGET', K_MSGS, F_ATT .. id) or ''
    out[#out + 1] = redis.call('HGET', K_DEADERR, id) or ''
  end
  return out
elseif op == 'forget' then
  local missing, changed = {}, false
  for i = 4, #ARGV do
    if redis.call('ZREM', K_DEAD, ARGV[i]) == 1 then
      forget(ARGV[i])
      changed = true
    else
      missing[#missing + 1] = ARGV[i]
    end
  end
  if changed then remember(table.concat(missing, ' ')) end
  return missing
end
local n = 0
for i = 5, #ARGV, 5 do
  local id = ARGV[i]
  redis.call('ZADD', K_DEAD, ARGV[i + 1], id)
  if ARGV[i + 2] ~= '' then redis.call('HSET', K_MSGS, id, ARGV[i + 2]) end
  set_attempts(id, num(ARGV[i + 3]))
  redis.call('HSET', K_DEADERR, id, ARGV[i + 4])
  n = n + 1
end
local over = redis.call('ZCARD', K_DEAD) - dead_cap(tonumber(ARGV[4]))
if over > 0 then
  local old = redis.call('ZRANGE', K_DEAD, 0, over - 1)
  redis.call('ZREMRANGEBYRANK', K_DEAD, 0, over - 1)
  for _, oid in ipairs(old) do forget(oid) end
end
return n
