-- keys.lua: generated from internal/keylayout by `go generate ./broker`; do not edit.
-- The names of a queue's keys and of their fields, the first definitions of
-- every queue script's prelude (see lib.lua).
--
-- KEYS[1] of every queue script is the queue's key prefix "<ns>:{<queue>}:".
-- Every key a script touches is derived from it, so all of them share the
-- queue's hash tag and live in one Redis Cluster slot.
local P = KEYS[1]
local K_CFG = P .. 'cfg' -- hash: the queue's settings; it exists while the queue does
local K_RING = P .. 'ring' -- list: facet tokens, in turn order
local K_TOKENS = P .. 'tokens' -- hash: facet -> its tokens in the ring
local K_PRIO = P .. 'prio' -- hash: facet -> priority (absent: 1); a paused facet's is "-<priority>", kept for its resume
local K_INFLIGHT = P .. 'inflight' -- hash: facet -> messages leased, and under strict order retries waiting (deleted at 0); kept only while an in-flight limit or strict order is set (setting one counts it again)
local K_LIMITS = P .. 'limits' -- hash: facet -> its own in-flight limit, overriding cfg.limit ("0": none)
local K_BACKLOGS = P .. 'backlogs' -- hash: facet -> its own backlog cap, overriding cfg.admit's ("0": none)
local K_ACTIVE = P .. 'active' -- set: the facets with ready messages
local K_DEEP = P .. 'deep' -- zset: facet -> its ready messages, for facets with at least 64 of them (DeepBacklog); written when the count enters another multiple of 64, so it is always in the same one as the count
local K_BACKLOG = P .. 'backlog' -- zset: layout 1 only: facet -> messages ready (fairway migrate moves it to active and deep)
local FACET = P .. 'f:' -- and <facet>: list: a facet's ready message IDs, oldest first
local K_MSGS = P .. 'msgs' -- hash: message ID -> envelope (the body, once); "@<ID>" -> deliveries so far of a message not leased now (absent: none)
local K_LEASED = P .. 'leased' -- zset: lease "<ID>|<token>|<attempt>|<facet>" -> its deadline (ms); token "<n>-<request ID>"
local K_ATT = P .. 'att' -- hash: layout 1 only: message ID -> deliveries so far (fairway migrate moves them to msgs and leased)
local K_LEASE = P .. 'lease' -- hash: layout 1 only: message ID -> "<token>|<facet>" (fairway migrate moves them to leased)
local K_DELAYED = P .. 'delayed' -- zset: message ID -> due time (ms)
local K_DEAD = P .. 'dead' -- zset: message ID -> time of death (ms)
local K_DEADERR = P .. 'deaderr' -- hash: message ID -> why it died; with a stack (WithStack), "\x00s<len>:<reason><stack>"
local K_SEQ = P .. 'seq' -- string: counter of lease tokens
local IDEM = P .. 'u:' -- and <key>: string: idempotency key: when its window ends (ms), with an expiry
local F_PATTERN = 'pattern' -- cfg field: the topic pattern, while the queue is routed
local F_LIMIT = 'limit' -- cfg field: per-facet in-flight limit (0: none); always set, how scripts tell the queue exists
local F_PAUSED = 'paused' -- cfg field: "1" while the queue is paused
local F_RATE = 'rate' -- cfg field: default rate limit per facet "<n>:<period ms>:<burst>"
local F_RATED = 'rated' -- cfg field: "1" while any rate limit is set (rate or rates)
local F_RETIRED = 'retired' -- cfg field: a retired partition: when it was retired (ms, the node's clock)
local F_SHARE = 'share' -- cfg field: a partition: "<i>;<k>", partition i of k, for its share of the dead-letter cap
local F_RETRIED = 'retried' -- cfg field: how many attempts fields ("@<ID>") msgs holds (absent: none), so that Stats counts messages in O(1)
local F_ATTEMPTS = 'attempts' -- cfg field: the queue's default retry budget, for deliveries that give none (absent: the producer's Config.MaxAttempts)
local F_OWN_LIMITS = 'limits' -- cfg field: "1" while limits holds a facet's own in-flight limit
local F_ORDERED = 'ordered' -- cfg field: "1" while the queue keeps each facet's messages in strict order: one at a time, retries first
local F_CAP = 'cap' -- cfg field: the most messages of the queue leased at once, over all workers (absent: no cap); a partition holds its share
local F_QRATE = 'qrate' -- cfg field: rate limit of the whole queue "<n>:<period ms>:<burst>", on top of the facets' own; a partition takes its share
local F_QTAT = 'qtat' -- cfg field: GCRA theoretical arrival time of the queue's next pull under qrate (ms)
local F_TTL = 'ttl' -- cfg field: the queue's default time to live (ms), for deliveries that give none (absent: messages do not expire)
local F_EXPIRY = 'expiry' -- cfg field: "drop": a message whose deadline passed before it started is dropped (absent: it becomes a dead letter)
local F_EXPIRED = 'expired' -- cfg field: how many messages reached their turn after their deadline, dropped or dead-lettered (absent: none)
local F_ADMIT = 'admit' -- cfg field: admission control at delivery "<facet backlog cap>;<queue cap>;<policy>;<own>": the default most ready messages per facet (0: none), the most messages of the queue not dead (0: none; a partition holds its share), "drop" to drop a facet's oldest ready messages to make room (else "refuse"), and "1" while backlogs holds a facet's own cap (absent: no admission control)
local F_LAYERS = 'layers' -- cfg field: "1" while any of limits, ordered, cap, qrate, ttl or admit is set, so that a pull, an ack or an enqueue of a queue without them reads one field for them all
local F_DROPPED = 'dropped' -- cfg field: how many ready messages were dead-lettered to make room for newer ones of their facet (absent: none)
local F_ATT = '@' -- msgs field: and <ID>: the deliveries so far of a ready, delayed or dead message that has had any
local DEEP_BACKLOG = 64 -- ready messages that put a facet in deep (keylayout.DeepBacklog)

-- rate_keys returns the names of the rate-limit keys (see ratelib.lua).
local function rate_keys()
  return {RATES = P .. 'rates', PARKED = P .. 'parked', TAT = P .. 'tat'}
end
