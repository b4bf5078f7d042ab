-- extend.lua: moves a lease's deadline to d from now (Redis's clock).
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- ARGV[2] the lease, as pull.lua handed it out, ARGV[3] d (ms)
-- Returns the new deadline (ms), 0 when the message is gone, -1 lease lost.
local v = ARGV[2]
local id, code = lease_of(v)
if not id then return code end
local deadline = now_ms() + tonumber(ARGV[3])
-- ZREM first: at maxmemory under noeviction Redis refuses a script's first
-- write when it may grow memory (ZADD), and allows it after another write.
redis.call('ZREM', K_LEASED, v)
redis.call('ZADD', K_LEASED, deadline, v)
return deadline
