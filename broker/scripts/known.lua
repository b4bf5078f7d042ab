-- known.lua: records a queue in the registry's list of every queue that
-- exists, routed or not (see Broker.ListQueues), or forgets it.
-- KEYS[1] known hash "<ns>:{~registry}:known": queue -> '1'; its field
--         '~scanned' marks that the namespace's older queues were found
--         (a queue name cannot hold '~')
-- ARGV[1] queue, or '~scanned'
-- ARGV[2] 'add' or 'forget'
-- Returns 1.
if ARGV[2] == 'forget' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], '1')
end
return 1
