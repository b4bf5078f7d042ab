package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/fairwayhq/fairway/internal/keylayout"
	"github.com/redis/go-redis/v9"
)

// Facet names for the fixture; globFacet has every glob character.
const (
	globFacet   = `b*[?]\`
	fixtureQ    = "q[1]" // a glob pattern itself: it would match q1's keys unescaped
	fixtureSibl = "q1"
)

// envelope builds a stored envelope as the broker writes it (no headers).
func envelope(facet, body string) string {
	return fmt.Sprintf("1%d:%s%d:%s0:%s", len(facet), facet, len("topic"), "topic", body)
}

// writeHealthyQueue writes by hand a queue that keeps every invariant:
//
//	a       priority 2, ready m1 m2, two tokens
//	b*[?]\  ready m3, one token, dead letter m8
//	c       paused (priority 0), ready m4, no token
//	d       at its limit of 1: m5 leased, m6 ready, one token left over
//	m7      delayed (facet a)
//
// and, next to it, a queue named q1 in the same namespace, which only an
// unescaped SCAN pattern for q[1] would mix in.
func writeHealthyQueue(t *testing.T, rdb redis.UniversalClient, ns string) {
	t.Helper()
	ctx := t.Context()
	p := ns + ":{" + fixtureQ + "}:"
	_, err := rdb.TxPipelined(ctx, func(x redis.Pipeliner) error {
		x.HSet(ctx, p+"cfg", "pattern", ".", "limit", "1")
		x.RPush(ctx, p+"ring", "a", globFacet, "d", "a")
		x.HSet(ctx, p+"tokens", "a", 2, globFacet, 1, "d", 1)
		x.HSet(ctx, p+"prio", "a", 2, "c", 0)
		x.HSet(ctx, p+"inflight", "d", 1)
		x.SAdd(ctx, p+"active", "a", globFacet, "c", "d")
		x.RPush(ctx, p+"f:a", "m1", "m2")
		x.RPush(ctx, p+"f:"+globFacet, "m3")
		x.RPush(ctx, p+"f:c", "m4")
		x.RPush(ctx, p+"f:d", "m6")
		for id, f := range map[string]string{"m1": "a", "m2": "a", "m3": globFacet, "m4": "c", "m5": "d", "m6": "d", "m7": "a", "m8": globFacet} {
			x.HSet(ctx, p+"msgs", id, envelope(f, "body of "+id))
		}
		x.HSet(ctx, p+"msgs", "@m2", 1, "@m8", 3)
		x.HSet(ctx, p+"cfg", "retried", 2)
		x.ZAdd(ctx, p+"leased", redis.Z{Score: 2e12, Member: "m5|7-s1|2|d"})
		x.ZAdd(ctx, p+"delayed", redis.Z{Score: 2e12, Member: "m7"})
		x.ZAdd(ctx, p+"dead", redis.Z{Score: 1e12, Member: "m8"})
		x.HSet(ctx, p+"deaderr", "m8", "boom")
		x.Set(ctx, p+"seq", 7, 0)
		x.Set(ctx, p+"u:key", "m1", 0)

		s := ns + ":{" + fixtureSibl + "}:"
		x.HSet(ctx, s+"cfg", "limit", "0")
		x.RPush(ctx, s+"f:x", "n1")
		x.HSet(ctx, s+"msgs", "n1", envelope("x", "n1"))
		x.SAdd(ctx, s+"active", "x")
		x.RPush(ctx, s+"ring", "x")
		x.HSet(ctx, s+"tokens", "x", 1)
		return nil
	})
	if err != nil {
		t.Fatalf("write fixture: %v", err)
	}
}

func TestCheckQueueHealthy(t *testing.T) {
	t.Parallel()
	ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ns := Namespace(t)
		writeHealthyQueue(t, rdb, ns)
		if err := CheckQueue(t.Context(), rdb, ns, fixtureQ); err != nil {
			t.Fatalf("healthy queue: %v", err)
		}
		if err := CheckQueue(t.Context(), rdb, ns, fixtureSibl); err != nil {
			t.Fatalf("healthy sibling queue: %v", err)
		}
		s, err := ReadQueue(t.Context(), rdb, ns, fixtureQ)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(s.Facets[globFacet], ","); got != "m3" {
			t.Errorf("facet %q read as %q; want m3", globFacet, got)
		}
		if len(s.Facets) != 4 || s.IdempotencyKeys != 1 || len(s.Other) != 0 {
			t.Errorf("read %d facets, %d idempotency keys, other keys %q; want 4, 1, none\n%s",
				len(s.Facets), s.IdempotencyKeys, s.Other, s.Dump(10))
		}
		RequireQueueInvariants(t, rdb, ns, fixtureQ)
	})
}

func TestCheckQueueReportsViolations(t *testing.T) {
	t.Parallel()
	type corruption struct {
		name    string
		corrupt func(ctx context.Context, x redis.Pipeliner, p string)
		want    []string
	}
	cases := []corruption{
		{
			"id in two places",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.RPush(ctx, p+"f:d", "m5")
			},
			[]string{`message "m5" is in 2 places: leased, ready in facet "d"`},
		},
		{
			"id twice in a list",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.RPush(ctx, p+"f:a", "m1")
			},
			[]string{`message "m1" is in 2 places: ready in facet "a", ready in facet "a"`},
		},
		{
			"ready facet without a token",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.LRem(ctx, p+"ring", 0, globFacet)
				x.HDel(ctx, p+"tokens", globFacet)
			},
			[]string{fmt.Sprintf(`facet %q is stuck: 1 ready message(s), priority 1, 0 in flight (limit 1)`, globFacet)},
		},
		{
			"limit raised without giving turns",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"cfg", "limit", "2")
				x.LRem(ctx, p+"ring", 0, "d")
				x.HDel(ctx, p+"tokens", "d")
			},
			[]string{`facet "d" is stuck: 1 ready message(s), priority 1, 1 in flight (limit 2)`},
		},
		{
			"a shallow facet in deep",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.ZAdd(ctx, p+"deep", redis.Z{Score: 64, Member: "a"})
			},
			[]string{`deep["a"] = 64 but the facet has 2 ready message(s), fewer than 64`},
		},
		{
			"a deep facet missing from deep, another in the wrong multiple",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				for _, f := range []string{"c", "d"} {
					for i := range 63 {
						id := fmt.Sprintf("%s%d", f, i)
						x.RPush(ctx, p+"f:"+f, id)
						x.HSet(ctx, p+"msgs", id, envelope(f, id))
					}
				}
				x.ZAdd(ctx, p+"deep", redis.Z{Score: 128, Member: "d"})
			},
			[]string{`facet "c" has 64 ready messages but is not in deep`,
				`deep["d"] = 128 but the facet has 64 ready messages, in another multiple of 64`},
		},
		{
			"the backlog of layout 1 left",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.ZAdd(ctx, p+"backlog", redis.Z{Score: 2, Member: "a"})
			},
			[]string{`backlog" of an older layout is still there`},
		},
		{
			"tokens beyond the priority",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"prio", "a", 1)
				x.HSet(ctx, p+"prio", globFacet, 0)
			},
			[]string{`tokens["a"] = 2, more than its priority 1`,
				fmt.Sprintf(`tokens[%q] = 1, more than its priority 0`, globFacet)},
		},
		{
			"tokens beyond the ready messages",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.RPush(ctx, p+"ring", "e")
				x.HSet(ctx, p+"tokens", "e", 1)
				x.LPop(ctx, p+"f:a")
				x.HDel(ctx, p+"msgs", "@m2", "m1")
				x.HSet(ctx, p+"cfg", "retried", 1)
			},
			[]string{`tokens["e"] = 1, more than its 0 ready message(s)`, `tokens["a"] = 2, more than its 1 ready message(s)`},
		},
		{
			"a drained facet in active",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.SAdd(ctx, p+"active", "e")
			},
			[]string{`active holds facet "e", which has no ready messages`},
		},
		{
			"facet missing from active",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.SRem(ctx, p+"active", "c")
			},
			[]string{`facet "c" has 1 ready message(s) but is not in active`},
		},
		{
			"a second lease of a ready message",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.ZAdd(ctx, p+"leased", redis.Z{Score: 2e12, Member: "m1|3-s1|1|a"})
			},
			[]string{`message "m1" is in 2 places: leased, ready in facet "a"`,
				`inflight["a"] = 0 but the facet holds 1 lease(s)`},
		},
		{
			"keys of layout 1",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"lease", "m5", "7-s1|d")
				x.HSet(ctx, p+"att", "m5", 2)
			},
			[]string{`lease" of an older layout is still there`, `att" of an older layout is still there`},
		},
		{
			"attempts beside a lease",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"msgs", "@m5", 2)
				x.HSet(ctx, p+"cfg", "retried", 3)
			},
			[]string{`leased message "m5" also has attempts "2" in msgs`},
		},
		{
			"retried count off",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"cfg", "retried", 5)
			},
			[]string{`cfg retried = "5" but msgs holds 2 attempts field(s)`},
		},
		{
			"in-flight counts without a limit",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"cfg", "limit", 0)
			},
			[]string{`inflight holds 1 facet(s) though the queue has no in-flight limit`},
		},
		{
			"own limits flag without limits",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"cfg", "limits", "1")
			},
			[]string{`cfg limits is true but limits holds 0 facet(s)`},
		},
		{
			"layers flag missing",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"cfg", "ttl", "1000")
			},
			[]string{`cfg layers is false but the layer fields set are [ttl]`},
		},
		{
			"layers flag without layers",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"cfg", "layers", "1")
			},
			[]string{`cfg layers is true but the layer fields set are []`},
		},
		{
			"own limit without its flag, and not a number",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"limits", "a", "x")
			},
			[]string{`cfg limits is false but limits holds 1 facet(s)`, `limits["a"] = "x"; want an integer >= 0`},
		},
		{
			// d's own limit of 2 leaves it one slot: its ready message
			// needs a turn.
			"facet below its own limit without a turn",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"limits", "d", "2")
				x.HSet(ctx, p+"cfg", "limits", "1")
				x.LRem(ctx, p+"ring", 0, "d")
				x.HDel(ctx, p+"tokens", "d")
			},
			[]string{`facet "d" is stuck: 1 ready message(s), priority 1, 1 in flight (limit 2)`},
		},
		{
			// Under strict order m7 (delayed, facet a) is a retry once it
			// has attempts: it holds a's slot.
			"strict order retry not counted",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"cfg", "ordered", "1")
				x.HSet(ctx, p+"msgs", "@m7", 1)
				x.HSet(ctx, p+"cfg", "retried", 3)
			},
			[]string{`inflight["a"] = 0 but the facet holds 1 lease(s) and waiting retries`},
		},
		{
			"cap and queue rate malformed",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"cfg", "cap", "0", "qrate", "fast", "rated", "1")
			},
			[]string{`cfg cap "0" is not an integer >= 1`, `cfg qrate "fast" is not "<n>:<period ms>:<burst>"`},
		},
		{
			"queue arrival time without a queue rate",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"cfg", "qtat", "1")
			},
			[]string{`cfg qtat = "1" but the queue has no rate limit of its own`},
		},
		{
			"inflight off by one",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HIncrBy(ctx, p+"inflight", "d", 1)
				x.HSet(ctx, p+"inflight", "a", 0)
			},
			[]string{`inflight["d"] = 2 but the facet holds 1 lease(s)`, `inflight["a"] = "0"; want a positive integer`},
		},
		{
			"bad lease value",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.ZRem(ctx, p+"leased", "m5|7-s1|2|d")
				x.ZAdd(ctx, p+"leased", redis.Z{Score: 2e12, Member: "m5|99"})
			},
			[]string{`lease "m5|99" is not "<ID>|<token>|<attempt>|<facet>"`},
		},
		{
			"token without its salt, attempt 0",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.ZRem(ctx, p+"leased", "m5|7-s1|2|d")
				x.ZAdd(ctx, p+"leased", redis.Z{Score: 2e12, Member: "m5|7|0|d"})
			},
			[]string{`lease of "m5" has token "7", not "<positive integer>-<salt>"`, `lease of "m5" has attempt 0`},
		},
		{
			"token beyond seq",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.Set(ctx, p+"seq", 3, 0)
			},
			[]string{`lease of "m5" has token 7, beyond the seq counter "3"`},
		},
		{
			"tokens out of step with the ring",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.RPush(ctx, p+"ring", "a")
				x.HSet(ctx, p+"tokens", "zz", 1)
			},
			[]string{`tokens["a"] = 2 but the ring holds 3 token(s) of it`, `tokens["zz"] = 1 but the ring holds 0 token(s) of it`},
		},
		{
			"lost message",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"msgs", "m9", envelope("a", "lost"))
			},
			[]string{`message "m9" has a body in msgs but is in no place`},
		},
		{
			"id without a body",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.ZAdd(ctx, p+"delayed", redis.Z{Score: 1, Member: "ghost"})
				x.HDel(ctx, p+"msgs", "m2")
			},
			[]string{`message "ghost" is delayed but has no body in msgs`,
				`message "m2" is ready in facet "a" but has no body in msgs`, `msgs holds attempts of "m2"`},
		},
		{
			"ready in the wrong facet",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"msgs", "m1", envelope("c", "moved"))
			},
			[]string{`message "m1" is ready in facet "a" but its envelope names facet "c"`},
		},
		{
			"stray attempts and deaderr",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"deaderr", "m1", "not dead")
				x.HDel(ctx, p+"deaderr", "m8")
				x.HSet(ctx, p+"msgs", "@m1", "x")
				x.HSet(ctx, p+"cfg", "retried", 3)
			},
			[]string{`deaderr holds "m1", which is not a dead letter`, `dead letter "m8" has no reason in deaderr`,
				`attempts of "m1" = "x"; want a positive integer`},
		},
		{
			"unknown and mistyped keys",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.Set(ctx, p+"junk", 1, 0)
				x.Set(ctx, p+"f:zz", "not a list", 0)
				x.Del(ctx, p+"prio")
				x.Set(ctx, p+"prio", "x", 0)
			},
			[]string{`{q[1]}:junk" under the queue's prefix is of no known kind`, "f:zz", "prio", "WRONGTYPE"},
		},
		{
			"bad cfg",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"cfg", "limit", "-1")
				x.HSet(ctx, p+"prio", "c", "x")
			},
			[]string{`cfg limit "-1" is not an integer >= 0`, `prio["c"] = "x"; want an integer >= 0`},
		},
	}
	ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ns := Namespace(t)
				writeHealthyQueue(t, rdb, ns)
				p := ns + ":{" + fixtureQ + "}:"
				if _, err := rdb.Pipelined(t.Context(), func(x redis.Pipeliner) error {
					c.corrupt(t.Context(), x, p)
					return nil
				}); err != nil {
					t.Fatalf("corrupt: %v", err)
				}
				err := CheckQueue(t.Context(), rdb, ns, fixtureQ)
				var ie *InvariantError
				if !errors.As(err, &ie) {
					t.Fatalf("CheckQueue = %v; want an *InvariantError", err)
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("report lacks %q:\n%v", w, err)
					}
				}
				// The sibling queue is untouched by all of this.
				if err := CheckQueue(t.Context(), rdb, ns, fixtureSibl); err != nil {
					t.Errorf("sibling queue: %v", err)
				}
			})
		}
	})
}

func TestCheckQueueReportsEveryViolation(t *testing.T) {
	t.Parallel()
	_, rdb := MiniRedis(t)
	ns := Namespace(t)
	writeHealthyQueue(t, rdb, ns)
	p := ns + ":{" + fixtureQ + "}:"
	ctx := t.Context()
	rdb.RPush(ctx, p+"f:d", "m5")                                          // m5 in two places
	rdb.LRem(ctx, p+"ring", 0, globFacet)                                  // b*[?]\ stuck, tokens wrong
	rdb.SAdd(ctx, p+"active", "zz")                                        // active wrong
	rdb.ZAdd(ctx, p+"leased", redis.Z{Score: 2e12, Member: "m1|8-s1|1|a"}) // m1 leased and ready, inflight a wrong
	err := CheckQueue(ctx, rdb, ns, fixtureQ)
	var ie *InvariantError
	if !errors.As(err, &ie) {
		t.Fatalf("CheckQueue = %v; want an *InvariantError", err)
	}
	for _, w := range []string{
		`message "m5" is in 2 places`,
		fmt.Sprintf(`facet %q is stuck`, globFacet),
		fmt.Sprintf(`tokens[%q] = 1 but the ring holds 0`, globFacet),
		`active holds facet "zz"`,
		`message "m1" is in 2 places`,
		`inflight["a"] = 0 but the facet holds 1 lease(s)`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("report lacks %q:\n%v", w, err)
		}
	}
	if len(ie.Violations) < 7 {
		t.Errorf("%d violations reported; want at least 7:\n%v", len(ie.Violations), err)
	}
}

func TestCheckQueueMissingQueue(t *testing.T) {
	t.Parallel()
	_, rdb := MiniRedis(t)
	err := CheckQueue(t.Context(), rdb, "ns", "nope")
	if err == nil || !strings.Contains(err.Error(), "the queue does not exist") {
		t.Fatalf("CheckQueue of a missing queue = %v; want it to say so", err)
	}
}

func TestCheckQueueConnectionError(t *testing.T) {
	t.Parallel()
	errDown := errors.New("server down")
	rdb := redis.NewClient(&redis.Options{
		MaxRetries:    -1,
		DialerRetries: 1,
		Dialer:        func(context.Context, string, string) (net.Conn, error) { return nil, errDown },
	})
	t.Cleanup(func() { _ = rdb.Close() })
	err := CheckQueue(t.Context(), rdb, "ns", "q")
	var ie *InvariantError
	if !errors.Is(err, errDown) || errors.As(err, &ie) {
		t.Fatalf("CheckQueue without a server = %v; want the read error", err)
	}
}

// ctxTB gives a fakeTB the Context that RequireQueueInvariants needs.
type ctxTB struct {
	testing.TB
	ctx context.Context
}

func (c ctxTB) Context() context.Context { return c.ctx }

func TestRequireQueueInvariants(t *testing.T) {
	t.Parallel()
	_, rdb := MiniRedis(t)
	ns := Namespace(t)
	writeHealthyQueue(t, rdb, ns)
	f := runFake(func(tb testing.TB) { RequireQueueInvariants(ctxTB{tb, t.Context()}, rdb, ns, fixtureQ) })
	if f.failed {
		t.Fatalf("healthy queue failed: %s", f.output())
	}
	rdb.HSet(t.Context(), ns+":{"+fixtureQ+"}:inflight", "a", 3)
	f = runFake(func(tb testing.TB) { RequireQueueInvariants(ctxTB{tb, t.Context()}, rdb, ns, fixtureQ) })
	if !f.failed {
		t.Fatal("broken queue passed")
	}
	for _, w := range []string{`inflight["a"] = 3 but the facet holds 0 lease(s)`, "keys of " + ns, `ring      ["a"`} {
		if !strings.Contains(f.output(), w) {
			t.Errorf("report lacks %q:\n%s", w, f.output())
		}
	}
}

func TestGlobEscape(t *testing.T) {
	t.Parallel()
	_, rdb := MiniRedis(t)
	ctx := t.Context()
	names := []string{`a*`, `a?`, `a[b]`, `a\`, `a\*`, `ab`, `a`, `a[`}
	for _, n := range names {
		rdb.Set(ctx, n, 1, 0)
	}
	for _, n := range names {
		keys, err := rdb.Keys(ctx, GlobEscape(n)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0] != n {
			t.Errorf("KEYS %q = %q; want only %q", GlobEscape(n), keys, n)
		}
	}
}

func TestEnvelopeFacet(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]string{
		envelope("a", "x"):               "a",
		envelope("", "x"):                "",
		envelope("ü:|", ""):              "ü:|",
		"14:ab":                          "!",
		"1x:a":                           "!",
		"2:a":                            "!",
		"21:a3:5:topic0:":                "a",
		"32:ab3:1700000000000:5:topic0:": "ab",
		"41:a3:5:topic0:":                "!",
		"":                               "!",
		"1-1:a":                          "!",
	} {
		got, ok := EnvelopeFacet(env)
		if !ok {
			got = "!"
		}
		if got != want {
			t.Errorf("EnvelopeFacet(%q) = %q; want %q", env, got, want)
		}
	}
}

// writeRateLimits adds rate limits to the healthy fixture: a default, a
// facet exempt from it, and facet b*[?]\ whose turn is parked.
func writeRateLimits(ctx context.Context, x redis.Pipeliner, p string) {
	x.HSet(ctx, p+"cfg", "rate", "5:1000:1", "rated", 1)
	x.HSet(ctx, p+"rates", "a", "0", "d", "10:60000:2")
	x.LRem(ctx, p+"ring", 0, globFacet)
	x.HDel(ctx, p+"tokens", globFacet)
	x.ZAdd(ctx, p+"parked", redis.Z{Score: 2e12, Member: globFacet})
	x.ZAdd(ctx, p+"tat", redis.Z{Score: 2e12 + 200, Member: globFacet})
}

func TestCheckQueueRateLimits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		corrupt func(ctx context.Context, x redis.Pipeliner, p string)
		want    []string
	}{
		{"healthy", func(context.Context, redis.Pipeliner, string) {}, nil},
		{
			"neither in the ring nor parked",
			func(ctx context.Context, x redis.Pipeliner, p string) { x.Del(ctx, p+"parked") },
			[]string{fmt.Sprintf(`facet %q is stuck`, globFacet)},
		},
		{
			"rated flag missing",
			func(ctx context.Context, x redis.Pipeliner, p string) { x.HDel(ctx, p+"cfg", "rated") },
			[]string{`cfg rated is false but a rate limit is set: true`,
				`no rate limit is set but 1 facet(s) are parked and 1 arrival time(s) kept`},
		},
		{
			"bad limits",
			func(ctx context.Context, x redis.Pipeliner, p string) {
				x.HSet(ctx, p+"cfg", "rate", "5/s")
				x.HSet(ctx, p+"rates", "c", "0:1000:1")
				x.ZAdd(ctx, p+"parked", redis.Z{Score: 1.5, Member: "c"})
			},
			[]string{`cfg rate "5/s" is not`, `rates["c"] = "0:1000:1"`, `parked["c"] = 1.5; want a time in ms`},
		},
	}
	ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				ns := Namespace(t)
				writeHealthyQueue(t, rdb, ns)
				p := ns + ":{" + fixtureQ + "}:"
				if _, err := rdb.Pipelined(t.Context(), func(x redis.Pipeliner) error {
					writeRateLimits(t.Context(), x, p)
					c.corrupt(t.Context(), x, p)
					return nil
				}); err != nil {
					t.Fatalf("write: %v", err)
				}
				err := CheckQueue(t.Context(), rdb, ns, fixtureQ)
				if len(c.want) == 0 {
					if err != nil {
						t.Fatalf("healthy rate-limited queue: %v", err)
					}
					return
				}
				for _, w := range c.want {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("report lacks %q:\n%v", w, err)
					}
				}
			})
		}
	})
}

// TestCheckQueueFollowsKeyTable checks that the checker takes the kinds and
// types of a queue's keys from the key table: a key the table lists is no
// stray key, and one of another type than the table's is reported.
func TestCheckQueueFollowsKeyTable(t *testing.T) {
	t.Parallel()
	ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ns := Namespace(t)
		writeHealthyQueue(t, rdb, ns)
		barrier := ns + ":{" + fixtureQ + "}:" + keylayout.Barrier
		if err := rdb.Set(t.Context(), barrier, "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := CheckQueue(t.Context(), rdb, ns, fixtureQ); err != nil {
			t.Fatalf("a key of the table, of its type: %v", err)
		}
		if err := rdb.Del(t.Context(), barrier).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.RPush(t.Context(), barrier, "x").Err(); err != nil {
			t.Fatal(err)
		}
		err := CheckQueue(t.Context(), rdb, ns, fixtureQ)
		if err == nil || !strings.Contains(err.Error(), "is a list; the key table says string") {
			t.Fatalf("a key of the wrong type: %v", err)
		}
	})
}
