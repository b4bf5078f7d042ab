-- extend.lua: moves a lease's deadline to d from now (Redis's clock).
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- ARGV[2] id, ARGV[3] lease token, ARGV[4] d (ms)
-- Returns the new deadline (ms), 0 when the message is gone, -1 lease lost.
local id = ARGV[2]
local f, code = lease_of(id, ARGV[3])
if not f then return code end
local deadline = now_ms() + tonumber(ARGV[4])
-- ZREM first: at maxmemory under noeviction Redis refuses a script's first
-- write when it may grow memory (ZADD), and allows it after another write.
redis.call('ZREM', K_LEASED, id)
redis.call('ZADD', K_LEASED, deadline, id)
return deadline
