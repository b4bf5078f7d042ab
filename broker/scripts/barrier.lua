-- barrier.lua: a write that leaves nothing behind, sent before WAIT on the
-- same connection so that WAIT has an offset to wait for (durability.go).
-- Its effects (a SET and a DEL) replicate in order after every earlier
-- write of the master.
-- KEYS[1] "<ns>:{<queue>}:barrier", which exists only inside this script
-- Returns 1.
redis.call('SET', KEYS[1], '1')
redis.call('DEL', KEYS[1])
return 1
