package limitbench

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// keys are the run's own keys, beside the queue's, under the broker's
// namespace.
type keys struct {
	running string // set of the handlers running now, "<pid>|<ID>|<attempt>"
	dead    string // hash: a killed process's handler -> its lease's deadline (ms)
	records string // list of pull records, one per handler (see record)
	arm     string // the pid of the process to hold its handlers, if any
	held    string // how many handlers that process holds
}

func keysOf(namespace string) keys {
	p := namespace + ":limitbench:"
	return keys{running: p + "running", dead: p + "dead", records: p + "records", arm: p + "arm", held: p + "held"}
}

// enterScript marks a handler running and appends its record, with the
// time (Redis's clock) and the handlers running at once, in one step, so
// that every process's handlers are counted against one another: those
// running, and those of a killed process whose leases have not ended (their
// slots are still taken).
// KEYS: running, dead, records. ARGV: the handler, the record's start.
var enterScript = redis.NewScript(`
redis.call('SADD', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = 0
for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local deadline = redis.call('HGET', KEYS[2], h)
  if not deadline or tonumber(deadline) > now then n = n + 1 end
end
redis.call('RPUSH', KEYS[3], ARGV[2] .. ' ' .. now .. ' ' .. n)
return n`)

// leaveScript ends a handler: out of the running set, or, in the process
// named by the arm key, held, returning how many that process now holds.
// KEYS: running, arm, held. ARGV: the handler, this process's pid.
var leaveScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) == ARGV[2] then return redis.call('INCR', KEYS[3]) end
redis.call('SREM', KEYS[1], ARGV[1])
return 0`)

// deadScript records, for each handler of the killed process ARGV[1] still
// in the running set, when its lease ends (0: it holds none), read from the
// queue's leases: their slots count as taken until then. It returns
// {"<ID>|<attempt>", deadline, ...} for them.
// KEYS: running, dead, the queue's leased zset.
var deadScript = redis.NewScript(`
local ends = {}
local leased = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
for i = 1, #leased, 2 do
  local id, att = string.match(leased[i], '^([^|]*)|[^|]*|([^|]*)|')
  if id then ends[id .. '|' .. att] = leased[i + 1] end
end
local out = {}
for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local pid, rest = string.match(h, '^([^|]*)|(.*)$')
  if pid == ARGV[1] then
    local deadline = ends[rest] or '0'
    redis.call('HSET', KEYS[2], h, deadline)
    out[#out + 1] = rest
    out[#out + 1] = deadline
  end
end
return out`)

// record is one pull, as its handler recorded it.
type record struct {
	pulled  int64 // ms, Redis's clock: the lease's deadline less the lease
	facet   string
	attempt int
	id, pid string
	entered int64 // ms, Redis's clock: when the handler started
	running int   // handlers running then, the killed process's leases included
}

// recordStart is what a handler gives enterScript; the script appends the
// rest.
func recordStart(pulled int64, facet string, attempt int, id, pid string) string {
	return fmt.Sprintf("%d %s %d %s %s", pulled, facet, attempt, id, pid)
}

func parseRecord(s string) (record, error) {
	f := strings.Fields(s)
	if len(f) != 7 {
		return record{}, fmt.Errorf("limitbench: record %q has %d fields, want 7", s, len(f))
	}
	var r record
	var err error
	ints := []*int64{&r.pulled, &r.entered}
	for i, j := range []int{0, 5} {
		if *ints[i], err = strconv.ParseInt(f[j], 10, 64); err != nil {
			return record{}, fmt.Errorf("limitbench: record %q: %w", s, err)
		}
	}
	if r.attempt, err = strconv.Atoi(f[2]); err != nil {
		return record{}, fmt.Errorf("limitbench: record %q: %w", s, err)
	}
	if r.running, err = strconv.Atoi(f[6]); err != nil {
		return record{}, fmt.Errorf("limitbench: record %q: %w", s, err)
	}
	r.facet, r.id, r.pid = f[1], f[3], f[4]
	return r, nil
}
