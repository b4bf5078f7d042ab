-- migrate.lua: moves a queue of layout 1 (the att, lease and backlog keys) to
-- this layout (see migrate_layout in lib.lua). Pulls do the same on first
-- use; this runs it ahead, for an operator.
-- KEYS[1] queue prefix "<ns>:{<queue>}:"
-- ARGV[1] wake channel (unused)
-- Returns 1 when nothing of layout 1 is left, -1 when the queue does not
-- exist.
local L = queue_limits()
if not L then return -1 end
migrate_layout(L)
return 1
