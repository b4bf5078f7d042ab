package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/fairwayhq/fairway/scheduler"
	"github.com/redis/go-redis/v9"
)

// The --json schema as docs/operators.md ("JSON output") documents it.
// These are the test's own copies, not the cli package's types: decoding
// every command's output into them with unknown fields refused catches a
// field renamed or added without the documentation.
type (
	jRate struct {
		Text    string `json:"text"`
		N       int    `json:"n"`
		PerMS   int64  `json:"per_ms"`
		Burst   int    `json:"burst"`
		Limited bool   `json:"limited"`
	}
	jQueue struct {
		Queue         string  `json:"queue"`
		Pattern       *string `json:"pattern"`
		State         string  `json:"state"`
		Ready         int64   `json:"ready"`
		InFlight      int64   `json:"in_flight"`
		Delayed       int64   `json:"delayed"`
		Dead          int64   `json:"dead"`
		Facets        int64   `json:"facets"`
		InFlightLimit int64   `json:"in_flight_limit"`
		MaxAttempts   int64   `json:"max_attempts"`
		Routed        bool    `json:"routed"`
		Paused        bool    `json:"paused"`
		RateLimit     jRate   `json:"rate_limit"`
		RateLimited   int64   `json:"rate_limited"`
		TTLMS         int64   `json:"ttl_ms"`
		ExpiryPolicy  string  `json:"expiry_policy"`
		Expired       int64   `json:"expired"`
		Partitions    int     `json:"partitions"`

		QueueRateLimit    jRate `json:"queue_rate_limit"`
		GlobalConcurrency int64 `json:"global_concurrency"`
		StrictOrder       bool  `json:"strict_order"`
		OwnInFlightLimits int64 `json:"own_in_flight_limits"`

		BacklogCap     int64  `json:"backlog_cap"`
		OwnBacklogCaps int64  `json:"own_backlog_caps"`
		QueueCap       int64  `json:"queue_cap"`
		BacklogPolicy  string `json:"backlog_policy"`
		Dropped        int64  `json:"dropped"`
	}
	jFacet struct {
		Queue            string  `json:"queue"`
		Facet            string  `json:"facet"`
		State            string  `json:"state"`
		Ready            int64   `json:"ready"`
		InFlight         int64   `json:"in_flight"`
		Priority         int     `json:"priority"`
		Paused           bool    `json:"paused"`
		RateLimit        jRate   `json:"rate_limit"`
		OwnRateLimit     bool    `json:"own_rate_limit"`
		RateLimitedUntil *string `json:"rate_limited_until"`
		InFlightLimit    int     `json:"in_flight_limit"`
		OwnInFlightLimit bool    `json:"own_in_flight_limit"`
		BacklogCap       int     `json:"backlog_cap"`
		OwnBacklogCap    bool    `json:"own_backlog_cap"`
	}
	jMessage struct {
		ID         string            `json:"id"`
		Topic      string            `json:"topic"`
		Facet      string            `json:"facet"`
		Attempt    int               `json:"attempt"`
		MaxAttempt int               `json:"max_attempts"`
		EnqueuedAt string            `json:"enqueued_at"`
		ExpiresAt  *string           `json:"expires_at"`
		Headers    map[string]string `json:"headers"`
		Body       json.RawMessage   `json:"body"`
		BodyText   *string           `json:"body_text"`
	}
	jDead struct {
		jMessage
		Error  string `json:"error"`
		DiedAt string `json:"died_at"`
		Stack  string `json:"stack"`
	}
	jDestroy struct {
		Queue     string `json:"queue"`
		Destroyed bool   `json:"destroyed"`
		Messages  int64  `json:"messages"`
	}
	jDeadAct struct {
		Queue    string `json:"queue"`
		Action   string `json:"action"`
		Count    int    `json:"count"`
		NotFound int    `json:"not_found"`
	}
	jDeliver struct {
		ID     string   `json:"id"`
		Topic  string   `json:"topic"`
		Facet  string   `json:"facet"`
		Queues []string `json:"queues"`
	}
	jEvent struct {
		Time     string          `json:"time"`
		Topic    string          `json:"topic"`
		Body     json.RawMessage `json:"body"`
		BodyText *string         `json:"body_text"`
	}
	jRegister struct {
		Queue   string `json:"queue"`
		Pattern string `json:"pattern"`
	}
	jQueueState struct {
		Queue string `json:"queue"`
		Facet string `json:"facet"`
		State string `json:"state"`
	}
	jPartitions struct {
		Queue      string   `json:"queue"`
		Count      int      `json:"count"`
		Generation int      `json:"generation"`
		Names      []string `json:"names"`
		Draining   []string `json:"draining"`
	}
	jPriority struct {
		Queue    string `json:"queue"`
		Facet    string `json:"facet"`
		Priority int    `json:"priority"`
	}
	jAttempts struct {
		Queue       string `json:"queue"`
		MaxAttempts int64  `json:"max_attempts"`
	}
	jTTL struct {
		Queue        string `json:"queue"`
		TTLMS        int64  `json:"ttl_ms"`
		ExpiryPolicy string `json:"expiry_policy"`
		Expired      int64  `json:"expired"`
	}
	jLimit struct {
		Queue         string `json:"queue"`
		InFlightLimit int64  `json:"in_flight_limit"`
		StrictOrder   bool   `json:"strict_order"`
		Facets        []struct {
			Facet         string `json:"facet"`
			InFlightLimit int    `json:"in_flight_limit"`
		} `json:"facets"`
	}
	jLimitSet struct {
		Queue         string `json:"queue"`
		Facet         string `json:"facet"`
		InFlightLimit *int   `json:"in_flight_limit"`
	}
	jOrder struct {
		Queue       string `json:"queue"`
		StrictOrder bool   `json:"strict_order"`
	}
	jCap struct {
		Queue      string `json:"queue"`
		BacklogCap int64  `json:"backlog_cap"`
		QueueCap   int64  `json:"queue_cap"`
		Policy     string `json:"policy"`
		Dropped    int64  `json:"dropped"`
		Facets     []struct {
			Facet      string `json:"facet"`
			BacklogCap int    `json:"backlog_cap"`
		} `json:"facets"`
	}
	jCapSet struct {
		Queue      string `json:"queue"`
		Facet      string `json:"facet"`
		BacklogCap *int   `json:"backlog_cap"`
		QueueCap   *int   `json:"queue_cap"`
		WholeQueue bool   `json:"whole_queue"`
		Policy     string `json:"policy"`
	}
	jConcurrency struct {
		Queue             string `json:"queue"`
		GlobalConcurrency int64  `json:"global_concurrency"`
	}
	jRateSet struct {
		Queue      string `json:"queue"`
		Facet      string `json:"facet"`
		RateLimit  *jRate `json:"rate_limit"`
		WholeQueue bool   `json:"whole_queue"`
	}
	jRateShow struct {
		Queue       string `json:"queue"`
		Default     jRate  `json:"default"`
		WholeQueue  jRate  `json:"whole_queue"`
		RateLimited int64  `json:"rate_limited"`
		Facets      []struct {
			Facet     string `json:"facet"`
			RateLimit jRate  `json:"rate_limit"`
		} `json:"facets"`
	}
	jSchedule struct {
		Name     string  `json:"name"`
		Spec     string  `json:"spec"`
		Location string  `json:"location"`
		Topic    string  `json:"topic"`
		Facet    string  `json:"facet"`
		CatchUp  string  `json:"catch_up"`
		LastRun  *string `json:"last_run"`
		NextRun  *string `json:"next_run"`
	}
	jForget struct {
		Schedule string `json:"schedule"`
		State    string `json:"state"`
	}
	jCheck struct {
		Servers []struct {
			Server          string `json:"server"`
			MaxmemoryPolicy string `json:"maxmemory_policy"`
			MayEvict        bool   `json:"may_evict"`
		} `json:"servers"`
		Problems []string `json:"problems"`
	}
	jVersion struct {
		Version string `json:"version"`
	}
	jWarning struct {
		Warning struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"warning"`
	}
	jError struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Exit    int    `json:"exit"`
		} `json:"error"`
	}
)

// binResult is one run of the built binary.
type binResult struct {
	code           int
	stdout, stderr string
}

// runBin runs bin with args under the environment env (and nothing of the
// caller's).
func runBin(t *testing.T, bin string, env []string, args ...string) binResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return binResult{0, stdout.String(), stderr.String()}
	case errors.As(err, &exit):
		return binResult{exit.ExitCode(), stdout.String(), stderr.String()}
	}
	t.Fatalf("run %v: %v", args, err)
	return binResult{}
}

// decodeStrict decodes s, one JSON value, into v, refusing unknown fields.
func decodeStrict(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if tok, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("more after the first JSON value: %v", tok)
	}
	return nil
}

var (
	snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	timeKey   = regexp.MustCompile(`(^|_)(at|until|run|time)$`)
)

// checkKeys walks the JSON document s and reports every key that is not
// snake_case, every number under a key not ending in _ms that could be a
// duration in nanoseconds (a second or more: 1e9), and every time that is
// not an RFC 3339 string in UTC. Headers and bodies are the messages' own.
func checkKeys(s string) []string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return []string{err.Error()}
	}
	var bad []string
	var walk func(path, key string, v any)
	walk = func(path, key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snakeCase.MatchString(k) {
					bad = append(bad, fmt.Sprintf("%s.%s: key not snake_case", path, k))
				}
				if k == "headers" || k == "body" {
					continue
				}
				walk(path+"."+k, k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), key, x)
			}
		case float64:
			if !strings.HasSuffix(key, "_ms") && (v >= 1e9 || v <= -1e9) {
				bad = append(bad, fmt.Sprintf("%s = %v: a duration in nanoseconds? durations are _ms", path, v))
			}
			if timeKey.MatchString(key) {
				bad = append(bad, fmt.Sprintf("%s = %v: a time as a number", path, v))
			}
		case string:
			if timeKey.MatchString(key) {
				if tm, err := time.Parse(time.RFC3339Nano, v); err != nil || !strings.HasSuffix(v, "Z") || tm.IsZero() {
					bad = append(bad, fmt.Sprintf("%s = %q: not an RFC 3339 time in UTC", path, v))
				}
			}
		}
	}
	walk("$", "", v)
	return bad
}

// TestJSONSchema runs every command of the built binary with --json, on
// miniredis and a real redis-server, decodes its output into the
// documented shape with unknown fields refused, and checks every key.
func TestJSONSchema(t *testing.T) {
	t.Parallel()
	bin := buildFairway(t)
	testutil.ForEachBackend(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := t.Context()
		ns := testutil.Namespace(t)
		client, ok := rdb.(*redis.Client)
		if !ok {
			t.Fatalf("backend client %T, want a *redis.Client", rdb)
		}
		url := "redis://" + client.Options().Addr + "/0"
		b, err := broker.New(rdb, broker.Config{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		// run runs a command with --json and checks its exit code, that its
		// stdout decodes strictly into into, and its keys.
		run := func(t *testing.T, code int, into any, args ...string) binResult {
			t.Helper()
			r := runBin(t, bin, nil, append(args, "--json", "--redis", url, "--namespace", ns)...)
			if r.code != code {
				t.Fatalf("fairway %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
			}
			if into != nil {
				reflect.ValueOf(into).Elem().SetZero() // nothing left of a previous run
				if err := decodeStrict(r.stdout, into); err != nil {
					t.Fatalf("fairway %s --json: %v\n%s", strings.Join(args, " "), err, r.stdout)
				}
				for _, p := range checkKeys(r.stdout) {
					t.Errorf("fairway %s --json: %s", strings.Join(args, " "), p)
				}
			}
			return r
		}

		var reg jRegister
		run(t, 0, &reg, "register", "q", ".")
		if reg != (jRegister{Queue: "q", Pattern: "."}) {
			t.Errorf("register = %+v", reg)
		}
		var del jDeliver
		run(t, 0, &del, "deliver", `{"topic":"t.a","facet":"a","n":1}`)
		if del.Topic != "t.a" || del.Facet != "a" || len(del.Queues) != 1 || del.Queues[0] != "q" || del.ID == "" {
			t.Errorf("deliver = %+v", del)
		}
		if head, err := b.Peek(ctx, "q", 1); err != nil || len(head) != 1 || head[0].ID != del.ID {
			t.Errorf("deliver printed ID %q; the queue holds %v (%v)", del.ID, head, err)
		}
		run(t, 0, &del, "deliver", `{"topic":"t.a","facet":"a","n":2}`)
		run(t, 0, &del, "deliver", `{"topic":"t.b","facet":"b","n":3}`)
		if err := b.DeliverBytes(ctx, "t.c", "c", []byte("not json")); err != nil {
			t.Fatal(err)
		}

		var prio jPriority
		run(t, 0, &prio, "priority", "q", "a", "3")
		if prio != (jPriority{Queue: "q", Facet: "a", Priority: 3}) {
			t.Errorf("priority = %+v", prio)
		}
		var limSet jLimitSet
		run(t, 0, &limSet, "limit", "q", "2")
		if limSet.Queue != "q" || limSet.Facet != "" || limSet.InFlightLimit == nil || *limSet.InFlightLimit != 2 {
			t.Errorf("limit q 2 = %+v", limSet)
		}
		run(t, 0, &limSet, "limit", "q", "a", "off")
		if limSet.Facet != "a" || limSet.InFlightLimit == nil || *limSet.InFlightLimit != 0 {
			t.Errorf("limit q a off = %+v", limSet)
		}
		run(t, 0, &limSet, "limit", "q", "z", "3")
		run(t, 0, &limSet, "limit", "q", "z", "default")
		if limSet.Facet != "z" || limSet.InFlightLimit != nil {
			t.Errorf("limit q z default = %+v, want a null in_flight_limit", limSet)
		}
		var lim jLimit
		run(t, 0, &lim, "limit", "q")
		if lim.Queue != "q" || lim.InFlightLimit != 2 || lim.StrictOrder || len(lim.Facets) != 1 || lim.Facets[0].Facet != "a" || lim.Facets[0].InFlightLimit != 0 {
			t.Errorf("limit q = %+v", lim)
		}
		var ord jOrder
		run(t, 0, &ord, "order", "q", "strict")
		run(t, 0, &ord, "order", "q")
		if ord != (jOrder{Queue: "q", StrictOrder: true}) {
			t.Errorf("order q = %+v", ord)
		}
		run(t, 0, &ord, "order", "q", "off")
		var conc jConcurrency
		run(t, 0, &conc, "concurrency", "q", "7")
		run(t, 0, &conc, "concurrency", "q")
		if conc != (jConcurrency{Queue: "q", GlobalConcurrency: 7}) {
			t.Errorf("concurrency q = %+v", conc)
		}
		var cs jCapSet
		run(t, 0, &cs, "cap", "q", "1000")
		if cs.Queue != "q" || cs.BacklogCap == nil || *cs.BacklogCap != 1000 || cs.QueueCap != nil || cs.Policy != "" {
			t.Errorf("cap q 1000 = %+v", cs)
		}
		run(t, 0, &cs, "cap", "q", "big", "off")
		if cs.Facet != "big" || cs.BacklogCap == nil || *cs.BacklogCap != 0 {
			t.Errorf("cap q big off = %+v", cs)
		}
		run(t, 0, &cs, "cap", "q", "z", "5")
		run(t, 0, &cs, "cap", "q", "z", "default")
		if cs.Facet != "z" || cs.BacklogCap != nil {
			t.Errorf("cap q z default = %+v, want no backlog_cap", cs)
		}
		run(t, 0, &cs, "cap", "--whole-queue", "q", "50000")
		if !cs.WholeQueue || cs.QueueCap == nil || *cs.QueueCap != 50000 {
			t.Errorf("cap --whole-queue q 50000 = %+v", cs)
		}
		run(t, 0, &cs, "cap", "--policy", "drop", "q")
		if cs.Policy != "drop" {
			t.Errorf("cap --policy drop q = %+v", cs)
		}
		var capShow jCap
		run(t, 0, &capShow, "cap", "q")
		if capShow.BacklogCap != 1000 || capShow.QueueCap != 50000 || capShow.Policy != "drop" || len(capShow.Facets) != 1 || capShow.Facets[0].Facet != "big" {
			t.Errorf("cap q = %+v", capShow)
		}
		run(t, 0, &cs, "cap", "--policy", "refuse", "q")
		run(t, 0, &cs, "cap", "q", "off")
		run(t, 0, &cs, "cap", "--whole-queue", "q", "off")
		var att jAttempts
		run(t, 0, &att, "attempts", "q", "6")
		run(t, 0, &att, "attempts", "q")
		if att != (jAttempts{Queue: "q", MaxAttempts: 6}) {
			t.Errorf("attempts q = %+v", att)
		}
		var ttl jTTL
		run(t, 0, &ttl, "ttl", "q", "90s", "--drop")
		if ttl != (jTTL{Queue: "q", TTLMS: 90000, ExpiryPolicy: "drop"}) {
			t.Errorf("ttl q 90s --drop = %+v", ttl)
		}
		run(t, 0, &ttl, "ttl", "q", "--dead-letter")
		run(t, 0, &ttl, "ttl", "q")
		if ttl != (jTTL{Queue: "q", TTLMS: 90000, ExpiryPolicy: "dead-letter"}) {
			t.Errorf("ttl q = %+v", ttl)
		}
		run(t, 0, &del, "deliver", "--ttl", "1h", `{"topic":"t.d","facet":"d","n":4}`)
		var rs jRateSet
		run(t, 0, &rs, "ratelimit", "q", "1/1m")
		if rs.Queue != "q" || rs.Facet != "" || rs.RateLimit == nil || *rs.RateLimit != (jRate{Text: "1/1m", N: 1, PerMS: 60000, Limited: true}) {
			t.Errorf("ratelimit q 1/1m = %+v", rs)
		}
		run(t, 0, &rs, "ratelimit", "q", "b", "600/1m,20")
		if rs.Facet != "b" || rs.RateLimit == nil || rs.RateLimit.Text != "600/1m,20" || rs.RateLimit.Burst != 20 {
			t.Errorf("ratelimit q b = %+v", rs)
		}
		run(t, 0, &rs, "ratelimit", "q", "c", "5/s")
		run(t, 0, &rs, "ratelimit", "q", "c", "default")
		if rs.Facet != "c" || rs.RateLimit != nil {
			t.Errorf("ratelimit q c default = %+v, want a null rate_limit", rs)
		}
		run(t, 0, &rs, "ratelimit", "--whole-queue", "q", "100/1s,10")
		if !rs.WholeQueue || rs.RateLimit == nil || rs.RateLimit.Text != "100/1s,10" {
			t.Errorf("ratelimit --whole-queue q = %+v", rs)
		}
		var show jRateShow
		run(t, 0, &show, "ratelimit", "q")
		if show.WholeQueue.Text != "100/1s,10" {
			t.Errorf("ratelimit q = %+v; want the whole queue's limit", show)
		}
		if show.Default.Text != "1/1m" || len(show.Facets) != 1 || show.Facets[0].Facet != "b" {
			t.Errorf("ratelimit q = %+v", show)
		}

		// Two pulls: a's first and b's; a is held back by 1/1m then.
		ms, err := b.PullN(ctx, "q", 2)
		if err != nil || len(ms) == 0 {
			t.Fatalf("PullN: %v, %v", ms, err)
		}
		if err := b.Kill(ctx, ms[0], "boom"); err != nil {
			t.Fatal(err)
		}

		var qs []jQueue
		run(t, 0, &qs, "queues")
		if len(qs) != 1 || qs[0].Queue != "q" || qs[0].Pattern == nil || *qs[0].Pattern != "." || qs[0].Dead != 1 || qs[0].InFlightLimit != 2 ||
			qs[0].State != "active" || qs[0].RateLimit.PerMS != 60000 || qs[0].Partitions != 1 {
			t.Errorf("queues = %+v", qs)
		}
		var st jQueue
		run(t, 0, &st, "stats", "q")
		if st.Pattern == nil || *st.Pattern != "." || st.Queue != "q" || st.Ready+st.InFlight != 4 || st.TTLMS != 90000 || st.ExpiryPolicy != "dead-letter" {
			t.Errorf("stats = %+v", st)
		}
		var fs []jFacet
		run(t, 0, &fs, "facets", "q")
		if len(fs) == 0 || fs[0].Queue != "q" {
			t.Errorf("facets = %+v", fs)
		}
		var f jFacet
		run(t, 0, &f, "facets", "q", "b")
		if f.Facet != "b" || !f.OwnRateLimit || f.RateLimit.Text != "600/1m,20" {
			t.Errorf("facets q b = %+v", f)
		}
		var peek []jMessage
		run(t, 0, &peek, "peek", "q")
		sawText, sawExpiry := false, 0
		for _, m := range peek {
			sawText = sawText || m.BodyText != nil && *m.BodyText == "not json"
			if m.ExpiresAt != nil {
				sawExpiry++
			}
		}
		if len(peek) == 0 || !sawText {
			t.Errorf("peek = %+v, want the body that is not JSON as body_text", peek)
		}
		if sawExpiry != 1 { // deliver --ttl's
			t.Errorf("peek = %+v, want 1 message with expires_at", peek)
		}
		var dead []jDead
		run(t, 0, &dead, "dead", "list", "q")
		if len(dead) != 1 || dead[0].Error != "boom" {
			t.Fatalf("dead list = %+v", dead)
		}
		var act jDeadAct
		run(t, 0, &act, "dead", "requeue", "q", dead[0].ID)
		if act != (jDeadAct{Queue: "q", Action: "requeue", Count: 1}) {
			t.Errorf("dead requeue = %+v", act)
		}
		run(t, 3, &act, "dead", "purge", "q", dead[0].ID)
		if act != (jDeadAct{Queue: "q", Action: "purge", NotFound: 1}) {
			t.Errorf("dead purge of a requeued letter = %+v", act)
		}

		var state jQueueState
		run(t, 0, &state, "pause", "q", "a")
		if state != (jQueueState{Queue: "q", Facet: "a", State: "paused"}) {
			t.Errorf("pause q a = %+v, want one object", state)
		}
		run(t, 0, &state, "resume", "q", "a")
		if state != (jQueueState{Queue: "q", Facet: "a", State: "active"}) {
			t.Errorf("resume q a = %+v, want one object", state)
		}
		run(t, 0, &state, "pause", "q")
		run(t, 0, &state, "resume", "q")
		if state != (jQueueState{Queue: "q", State: "active"}) {
			t.Errorf("resume q = %+v", state)
		}

		var parts jPartitions
		run(t, 0, &parts, "partitions", "q")
		if parts.Count != 1 || len(parts.Names) != 1 || parts.Draining == nil {
			t.Errorf("partitions q = %+v", parts)
		}
		run(t, 0, &parts, "partitions", "q", "2")
		if parts.Count != 2 || len(parts.Names) != 2 {
			t.Errorf("partitions q 2 = %+v", parts)
		}

		var sch []jSchedule
		run(t, 0, &sch, "schedules")
		if sch == nil || len(sch) != 0 {
			t.Errorf("schedules with none = %+v, want []", sch)
		}
		addSchedule(t, b)
		run(t, 0, &sch, "schedules")
		if len(sch) != 1 || sch[0].Name != "nightly" || sch[0].LastRun != nil || sch[0].NextRun == nil {
			t.Errorf("schedules = %+v", sch)
		}
		var forget jForget
		run(t, 0, &forget, "schedules", "forget", "nightly")
		if forget != (jForget{Schedule: "nightly", State: "forgotten"}) {
			t.Errorf("schedules forget = %+v", forget)
		}

		var chk jCheck
		run(t, 0, &chk, "check")
		if len(chk.Servers) == 0 || chk.Problems == nil {
			t.Errorf("check = %+v", chk)
		}
		var ver jVersion
		run(t, 0, &ver, "version")
		if ver.Version == "" {
			t.Error("version is empty")
		}

		run(t, 0, &state, "unregister", "q")
		if state != (jQueueState{Queue: "q", State: "unrouted"}) {
			t.Errorf("unregister = %+v", state)
		}
		run(t, 0, &st, "stats", "q")
		if st.Pattern != nil || st.State != "unrouted" || st.Routed {
			t.Errorf("stats of an unrouted queue = %+v, want a null pattern", st)
		}
		run(t, 0, &qs, "queues")
		if len(qs) != 1 || qs[0].Queue != "q" || qs[0].Pattern != nil || qs[0].State != "unrouted" {
			t.Errorf("queues after unregister = %+v, want q unrouted with a null pattern", qs)
		}

		ev := tailOne(t, bin, url, ns, b)
		if ev.Topic != "t.tail" || string(ev.Body) != `{"x":1}` {
			t.Errorf("tail = %+v", ev)
		}

		var destroyed jDestroy
		run(t, 0, &destroyed, "destroy", "q", "--yes")
		if destroyed.Queue != "q" || !destroyed.Destroyed || destroyed.Messages == 0 {
			t.Errorf("destroy q = %+v, want the messages it held counted", destroyed)
		}
		run(t, 0, &qs, "queues")
		if len(qs) != 0 {
			t.Errorf("queues after destroy = %+v, want []", qs)
		}
	})
}

// addSchedule records a schedule in b's namespace, as a running scheduler
// does.
func addSchedule(t *testing.T, b *broker.Broker) {
	t.Helper()
	s, err := scheduler.New(b, scheduler.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(scheduler.Schedule{Name: "nightly", Spec: scheduler.MustCron("0 2 * * *"), Topic: "report"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	testutil.Eventually(t, 5*time.Second, func() bool {
		all, err := scheduler.List(t.Context(), b)
		return err == nil && len(all) == 1
	}, "the scheduler records its schedule")
	cancel()
	<-done
}

// tailOne runs "fairway tail --json t.*", delivers until it prints one
// line, stops it with an interrupt, and checks the line and the exit.
func tailOne(t *testing.T, bin, url, ns string, b *broker.Broker) jEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "tail", "t.*", "--json", "--redis", url, "--namespace", ns)
	cmd.Env = []string{}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	var line string
	for deadline := time.Now().Add(10 * time.Second); line == "" && time.Now().Before(deadline); {
		if err := b.DeliverBytes(t.Context(), "t.tail", "f", []byte(`{"x":1}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case line = <-lines:
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tail: %v\n%s", err, stderr.String())
	}
	var ev jEvent
	if err := decodeStrict(line, &ev); err != nil {
		t.Fatalf("tail --json line %q: %v", line, err)
	}
	for _, p := range checkKeys(line) {
		t.Errorf("tail --json: %s", p)
	}
	if stderr.Len() != 0 {
		t.Errorf("tail --json wrote on stderr: %s", stderr.String())
	}
	return ev
}

// TestJSONErrors checks that, under --json, every kind of error is one
// {"error": ...} object on stderr with its stable code and the exit code,
// and nothing on stdout.
func TestJSONErrors(t *testing.T) {
	t.Parallel()
	bin := buildFairway(t)
	rdb := testutil.RealRedis(t)
	addr := rdb.Options().Addr
	url := "redis://" + addr + "/0"
	ns := testutil.Namespace(t)
	b, err := broker.New(rdb, broker.Config{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterQueue(t.Context(), "q", `^[^c]`); err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterQueue(t.Context(), "capped", `^capped\.`); err != nil {
		t.Fatal(err)
	}
	if err := b.SetBacklogLimit(t.Context(), "capped", 1); err != nil {
		t.Fatal(err)
	}
	if err := b.DeliverBytes(t.Context(), "capped.t", "acme", nil); err != nil {
		t.Fatal(err)
	}
	evicting := testutil.StartServerT(t, "--maxmemory-policy", "allkeys-lru").Addr()
	down := "redis://127.0.0.1:1/0"
	for _, tc := range []struct {
		name string
		args []string
		code string
		exit int
		want string // in the message
	}{
		{"unknown queue", []string{"stats", "nope", "--redis", url, "--namespace", ns}, "not_found", 3, "unknown queue"},
		{"unknown facet", []string{"facets", "q", "nobody", "--redis", url, "--namespace", ns}, "not_found", 3, `no facet "nobody"`},
		{"deliver reaching no queue", []string{"deliver", "--require-queue", `{"topic":"t.x"}`, "--redis", url, "--namespace", ns + "-empty"}, "no_queue", 1, `"t.x"`},
		{"register with another pattern", []string{"register", "q", "^other$", "--redis", url, "--namespace", ns}, "pattern_conflict", 1, "^other$"},
		{"deliver past a backlog cap", []string{"deliver", `{"topic":"capped.t","facet":"acme"}`, "--redis", url, "--namespace", ns}, "backlog_full", 1, `facet "acme" holds its backlog cap of 1`},
		{"cap with a bad policy", []string{"cap", "--policy", "keep", "q", "--redis", url, "--namespace", ns}, "usage", 2, "neither refuse nor drop"},
		{"cap below zero", []string{"cap", "q", "-1", "--redis", url, "--namespace", ns}, "usage", 2, "cap"},
		{"bad queue name", []string{"stats", "a b", "--redis", url, "--namespace", ns}, "usage", 2, "invalid queue name"},
		{"missing argument", []string{"stats", "--redis", url}, "usage", 2, "want QUEUE"},
		{"unknown flag", []string{"queues", "--bogus"}, "usage", 2, "--bogus"},
		{"unknown flag before --json", []string{"queues", "--bogus", "--json"}, "usage", 2, "--bogus"},
		{"unknown command", []string{"frobnicate"}, "usage", 2, "unknown command"},
		{"no command", []string{}, "usage", 2, "no command"},
		{"bad URL with a password", []string{"queues", "--redis", "redis://:pw-secret@[bad"}, "usage", 2, "bad --redis URL"},
		{"bad glob, Redis down", []string{"tail", "[bad", "--redis", down}, "usage", 2, "no \"]\""},
		{"Redis down", []string{"queues", "--redis", down, "--timeout", "2s"}, "unavailable", 4, "cannot reach Redis"},
		{"DB out of range", []string{"queues", "--redis", "redis://" + addr + "/99"}, "redis_refused", 1, "DB index"},
		{"may evict", []string{"check", "--redis", "redis://" + evicting + "/0"}, "may_evict", 1, "may evict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runBin(t, bin, nil, append([]string{"--json"}, tc.args...)...)
			if r.code != tc.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.exit, r.stdout, r.stderr)
			}
			// "check" prints its report on stdout, and warns on stderr
			// before the error, each warning one JSON object a line.
			errLine := r.stderr
			if tc.code == "may_evict" {
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				errLine = lines[len(lines)-1]
				if len(lines) < 2 {
					t.Errorf("no warning before the error: %q", r.stderr)
				}
				for _, l := range lines[:len(lines)-1] {
					var w jWarning
					if err := decodeStrict(l, &w); err != nil || w.Warning.Code != "may_evict" || !strings.Contains(w.Warning.Message, "allkeys-lru") {
						t.Errorf("warning %q (%v), want a may_evict warning naming the policy", l, err)
					}
				}
			} else if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if strings.Contains(r.stderr, "pw-secret") {
				t.Errorf("stderr shows the password: %s", r.stderr)
			}
			var e jError
			if err := decodeStrict(errLine, &e); err != nil {
				t.Fatalf("stderr %q: %v", r.stderr, err)
			}
			if e.Error.Code != tc.code || e.Error.Exit != tc.exit || !strings.Contains(e.Error.Message, tc.want) {
				t.Errorf("error %+v, want code %q, exit %d and %q", e.Error, tc.code, tc.exit, tc.want)
			}
		})
	}
}

// TestGlobalFlagsBeforeCommand checks that the global flags work before the
// command as after it, and that one after the command wins.
func TestGlobalFlagsBeforeCommand(t *testing.T) {
	t.Parallel()
	bin, url, ns, _ := binWithQueue(t, ".")
	before := runBin(t, bin, nil, "--json", "--redis", url, "--namespace="+ns, "--timeout", "5s", "queues")
	after := runBin(t, bin, nil, "queues", "--json", "--redis", url, "--namespace", ns, "--timeout", "5s")
	var qs []jQueue
	if before.code != 0 || decodeStrict(before.stdout, &qs) != nil || len(qs) != 1 || qs[0].Queue != "q" {
		t.Fatalf("fairway --json ... queues: exit %d\n%s\n%s", before.code, before.stdout, before.stderr)
	}
	if before.stdout != after.stdout {
		t.Errorf("before the command:\n%s\nafter it:\n%s", before.stdout, after.stdout)
	}
	if r := runBin(t, bin, nil, "--json", "queues", "--json=false", "--redis", url, "--namespace", ns); r.code != 0 || !strings.HasPrefix(r.stdout, "QUEUE") {
		t.Errorf("--json before, --json=false after: exit %d, stdout %q; want the table", r.code, r.stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "0s", "queues"}, "--timeout 0s"},
		{[]string{"--top", "3", "facets", "q"}, "not a global flag"},
		{[]string{"--redis"}, "needs an argument"},
	} {
		r := runBin(t, bin, nil, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestHelpDefaultsFromEnv checks that a command's help shows the defaults
// in effect, from the environment, with --flag spelling, and never a
// password or token from it.
func TestHelpDefaultsFromEnv(t *testing.T) {
	t.Parallel()
	bin := buildFairway(t)
	env := []string{
		"REDIS_URL=redis://admin:s3cretpw@127.0.0.1:6390/2",
		"FAIRWAY_NAMESPACE=fromenv",
		"FAIRWAY_DASH_TOKEN=tok-secret-1",
		"FAIRWAY_DASH_BASIC_AUTH=ops:basic-secret-2",
	}
	longFlagOneDash := regexp.MustCompile(`(?m)^\s+-[a-z][a-z-]+\b`)
	for _, args := range [][]string{{"stats", "-h"}, {"help", "facets"}, {"dash", "--help"}, {"peek", "-h"}} {
		r := runBin(t, bin, env, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		mustContain(t, r.stdout, "--redis URL", "(default redis://admin:xxxxx@127.0.0.1:6390/2)", "--namespace NS", "(default fromenv)", "--json", "--timeout")
		for _, secret := range []string{"s3cretpw", "tok-secret-1", "basic-secret-2"} {
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("%v prints the secret %q:\n%s", args, secret, r.stdout)
			}
		}
		if m := longFlagOneDash.FindString(r.stdout); m != "" {
			t.Errorf("%v spells a flag %q, want --:\n%s", args, m, r.stdout)
		}
	}
	r := runBin(t, bin, env, "facets", "-h")
	mustContain(t, r.stdout, "--top int", "(default 20)")
	r = runBin(t, bin, env, "peek", "-h")
	mustContain(t, r.stdout, "-n int")
	r = runBin(t, bin, env, "dash", "-h")
	mustContain(t, r.stdout, "--token string", "hidden, set by the environment")
	// Without the environment, the built-in defaults.
	r = runBin(t, bin, nil, "stats", "-h")
	mustContain(t, r.stdout, "(default redis://127.0.0.1:6379/0)", "(default fairway)")
}

// TestFacetLimitAndRateAsTyped checks, through the built binary, "facets
// QUEUE FACET", "limit QUEUE", rate limits printed as typed, and "tail"
// refusing a glob with an unclosed [.
func TestFacetLimitAndRateAsTyped(t *testing.T) {
	t.Parallel()
	bin := buildFairway(t)
	rdb := testutil.RealRedis(t)
	url := "redis://" + rdb.Options().Addr + "/0"
	ns := testutil.Namespace(t)
	run := func(code int, args ...string) binResult {
		t.Helper()
		r := runBin(t, bin, nil, append(args, "--redis", url, "--namespace", ns)...)
		if r.code != code {
			t.Fatalf("fairway %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
		}
		return r
	}
	run(0, "register", "q", ".")
	run(0, "deliver", `{"facet":"a"}`)
	run(0, "deliver", `{"facet":"a"}`)
	run(0, "priority", "q", "idle", "2") // no messages, but a setting

	r := run(0, "limit", "q")
	if !regexp.MustCompile(`(?m)^\(queue\)\s+none$`).MatchString(r.stdout) {
		t.Errorf("limit q without a limit:\n%s", r.stdout)
	}
	run(0, "limit", "q", "4")
	run(0, "limit", "q", "a", "6")
	r = run(0, "limit", "q")
	if !regexp.MustCompile(`(?m)^\(queue\)\s+4$`).MatchString(r.stdout) || !regexp.MustCompile(`(?m)^a\s+6$`).MatchString(r.stdout) {
		t.Errorf("limit q with limits:\n%s", r.stdout)
	}

	r = run(0, "ratelimit", "q", "1/1m")
	mustContain(t, r.stdout, "is now 1/1m\n")
	run(0, "ratelimit", "q", "a", "600/1m,20")
	for _, tc := range []struct {
		args []string
		re   string
	}{
		{[]string{"ratelimit", "q"}, `(?m)^\(default\)\s+1/1m$`},
		{[]string{"ratelimit", "q"}, `(?m)^a\s+600/1m,20$`},
		{[]string{"stats", "q"}, `(?m)^rate-limit\s+1/1m$`},
		{[]string{"facets", "q"}, `(?m)^a\s+2\s+0\s+1\s+active\s+600/1m,20 \(own\)\s+-\s+6 \(own\)\s+none$`},
		{[]string{"facets", "q", "a"}, `(?m)^in-flight-limit\s+6 \(own\)$`},
		{[]string{"stats", "q"}, `(?m)^own-in-flight-limits\s+1$`},
		{[]string{"facets", "q", "a"}, `(?m)^ready\s+2$`},
		{[]string{"facets", "q", "a"}, `(?m)^rate-limit\s+600/1m,20 \(own\)$`},
		{[]string{"facets", "q", "idle"}, `(?m)^priority\s+2$`},
		{[]string{"facets", "q", "idle"}, `(?m)^rate-limit\s+1/1m$`},
	} {
		if r := run(0, tc.args...); !regexp.MustCompile(tc.re).MatchString(r.stdout) {
			t.Errorf("fairway %s lacks %s:\n%s", strings.Join(tc.args, " "), tc.re, r.stdout)
		}
	}
	r = run(3, "facets", "q", "nobody")
	mustContain(t, r.stderr, `queue "q" has no facet "nobody"`)
	run(3, "facets", "nope", "a")
	run(2, "facets", "q", "a", "b")
	run(2, "limit", "q", "a", "4", "5")
	run(2, "limit", "q", "a", "many")
	run(2, "order", "q", "sometimes")
	r = run(2, "tail", "[bad")
	mustContain(t, r.stderr, `"[bad"`, "no \"]\"")
}

// TestCheckKeys checks the checker the schema tests rely on: it must catch
// what it is there to catch, and pass the messages' own headers and bodies.
func TestCheckKeys(t *testing.T) {
	t.Parallel()
	for doc, bad := range map[string]bool{
		`{"ready": 1, "rate_limit": {"per_ms": 60000}}`:              false,
		`[{"died_at": "2026-01-02T03:04:05.5Z", "last_run": null}]`:  false,
		`{"headers": {"X-Trace": "1"}, "body": {"CamelCase": 1e12}}`: false,
		`{"Ready": 1}`:                                    true,
		`{"inFlight": 1}`:                                 true,
		`{"rate_limit": {"per": 60000000000}}`:            true,
		`[{"queue": "q", "RateLimit": {"Per": 1000000}}]`: true,
		`{"died_at": "2026-01-02T04:04:05+01:00"}`:        true,
		`{"enqueued_at": 1767322800}`:                     true,
		`{"time": "yesterday"}`:                           true,
	} {
		if got := len(checkKeys(doc)) > 0; got != bad {
			t.Errorf("checkKeys(%s) = %v, want bad %v", doc, checkKeys(doc), bad)
		}
	}
}

// TestDeliverRequireQueue checks "deliver" through the built binary: a
// topic no queue matches is published only and says so, without the
// broker's own warning; with --require-queue it fails with the topic named.
func TestDeliverRequireQueue(t *testing.T) {
	t.Parallel()
	bin, url, ns, b := binWithQueue(t, `^t\.a$`)
	r := runBin(t, bin, nil, "deliver", `{"topic":"t.b"}`, "--redis", url, "--namespace", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "published only") || strings.Contains(r.stderr, "WARN") {
		t.Errorf("deliver to no queue: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = runBin(t, bin, nil, "deliver", "--require-queue", `{"topic":"t.b"}`, "--redis", url, "--namespace", ns)
	if r.code != 1 || !strings.Contains(r.stderr, `"t.b"`) {
		t.Errorf("deliver --require-queue to no queue: exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = runBin(t, bin, nil, "deliver", "--require-queue", `{"topic":"t.a"}`, "--redis", url, "--namespace", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "[q]") {
		t.Errorf("deliver --require-queue to q: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if st, err := b.Stats(t.Context(), "q"); err != nil || st.Ready != 1 {
		t.Errorf("q holds %+v (%v), want the one delivery to t.a", st, err)
	}
}

// binWithQueue builds the binary and gives a Redis URL, a namespace of
// its own for t, and a broker on them with queue "q" on pattern.
func binWithQueue(t *testing.T, pattern string) (bin, url, ns string, b *broker.Broker) {
	t.Helper()
	bin = buildFairway(t)
	rdb := testutil.RealRedis(t)
	url = "redis://" + rdb.Options().Addr + "/0"
	ns = testutil.Namespace(t)
	b, err := broker.New(rdb, broker.Config{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.RegisterQueue(t.Context(), "q", pattern); err != nil {
		t.Fatal(err)
	}
	return bin, url, ns, b
}
