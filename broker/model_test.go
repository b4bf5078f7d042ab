package broker_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

// TestModel drives a queue with long random sequences of operations and,
// after every step, checks the queue's invariants (testutil.CheckQueue) and
// compares its whole state with an in-memory model of the fair queue: the
// ready IDs of every facet in order, the leased, delayed and dead IDs with
// their deadlines, attempts, reasons, priorities and the in-flight limit,
// and Stats and DeadLetters.
//
// The model does not predict the round-robin order of facets. Instead, each
// pulled message must be the head of a facet that may be pulled (it has
// ready work, priority > 0 and fewer leases than the limit), and a PullN
// must return exactly min(n, what all such facets could give): a facet
// that has work and room but no turn would show up as a short pull.
//
// Time: every lease or delay is either long (an hour: never expires here)
// or short (a few ms). Before each pull the test waits until every short
// one has surely passed by Redis's clock (the wall clock of this machine,
// on both backends), so each pull moves back exactly the short ones (up to
// Config.ReclaimBatch of each, taken in deadline or due time order, then
// ID), nothing is timing-dependent, and the test cannot flake on a slow
// machine. Due times, lease deadlines and times of death are learned from
// Redis (the zsets' scores, Message.LeaseDeadline) and checked to lie
// within the broker call that set them. Each seed also picks MaxAttempts,
// ReclaimBatch and DeadLetterCap.
//
// A failure prints the seed, the last steps, the model and the queue's
// keys. The seed fixes the sequence of operations (message IDs and times
// differ from run to run); rerun one seed with
//
//	go test ./broker -run 'TestModel/.*/seed=7$' -model.seed=7 -model.steps=2000
var (
	modelSeedFlag  = flag.Uint64("model.seed", 0, "TestModel: run only this seed (0: the default seeds)")
	modelStepsFlag = flag.Int("model.steps", 0, "TestModel: steps per seed (0: 2000, or 300 with -short)")
)

const (
	modelQueue   = "q"
	modelLong    = time.Hour
	modelMargin  = 3 // ms past a short deadline before a pull
	modelLogSize = 25
	// modelMaxLongDelayed bounds the messages delayed for an hour.
	modelMaxLongDelayed = 6
)

// Facet names that are hard on key building: a colon, glob characters, a
// hash-tag look-alike and non-ASCII.
var modelFacets = []string{"a", "b", "tenant:42", `g*[?]\`, "ü{q}:f:x"}

func TestModel(t *testing.T) {
	t.Parallel()
	seeds := []uint64{1, 2, 3}
	if *modelSeedFlag != 0 {
		seeds = []uint64{*modelSeedFlag}
	}
	steps := 2000
	if testing.Short() {
		steps = 300
	}
	if *modelStepsFlag > 0 {
		steps = *modelStepsFlag
	}
	// As testutil.ForEachBackend, but with a client per seed: miniredis runs
	// one command at a time, so seeds sharing one would not run in parallel.
	for _, backend := range testutil.Backends() {
		t.Run(backend.Name, func(t *testing.T) {
			t.Parallel()
			for _, seed := range seeds {
				t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
					t.Parallel()
					runModel(t, backend.Client(t), seed, steps)
				})
			}
		})
	}
}

type mState int

const (
	mReady mState = iota
	mLeased
	mDelayed
	mDead
)

// String names the state.
func (s mState) String() string {
	return [...]string{"ready", "leased", "delayed", "dead"}[s]
}

// mMsg is the model of one message. key, its body, identifies it until its
// ID is learned from Redis after the step that queued it.
type mMsg struct {
	key, id, facet, topic string
	headers               map[string]string
	state                 mState
	att                   int
	holder                *broker.Message // the current lease (leased)
	token                 int64           // the lease's token, learned after the step (leased)
	deadline              int64           // lease deadline, ms (leased)
	due                   int64           // due time, ms (delayed)
	diedAt                int64           // time of death, ms (dead)
	reason                string          // why it died (dead)
	short                 bool            // lease or delay passes before the next pull
	// learn: due or diedAt is to be read from Redis, and must lie in
	// [lo, hi] (ms).
	learn  bool
	lo, hi int64
}

type modelRun struct {
	t        *testing.T
	ctx      context.Context
	rdb      redis.UniversalClient
	b        *broker.Broker
	ns       string
	seed     uint64
	rng      *rand.Rand
	maxAtt   int
	batch    int // Config.ReclaimBatch
	deadCap  int // Config.DeadLetterCap
	step     int
	counter  int
	log      []string
	msgs     map[string]*mMsg // by key
	byID     map[string]*mMsg
	facets   map[string][]*mMsg // ready, oldest first
	inflight map[string]int
	prio     map[string]int // absent: 1
	limit    int
	own      map[string]int // facets' own in-flight limits (SetFacetInflightLimit)
	capped   int            // the global concurrency (0: none)
	backlog  int            // the backlog cap per facet (0: none)
	ownCaps  map[string]int // facets' own backlog caps (SetFacetBacklogLimit)
	queueCap int            // the queue's cap on its messages (0: none)
	refused  int            // delivery calls refused by a cap
	idem     map[string]bool
	holders  []*broker.Message // leases handed out, current or stale
	// leasedNow lists the messages leased in this step, in lease order, and
	// lastToken is the highest lease token seen: tokens grow in lease order.
	leasedNow []*mMsg
	lastToken int64
	// opStart and opEnd bracket the broker call of the step, for the time
	// windows of what Redis stamps with its clock.
	opStart, opEnd int64
}

func runModel(t *testing.T, rdb redis.UniversalClient, seed uint64, steps int) {
	m := &modelRun{
		t: t, ctx: t.Context(), rdb: rdb, ns: testutil.Namespace(t), seed: seed,
		rng:  rand.New(rand.NewPCG(seed, 0x6661697277617921)),
		msgs: map[string]*mMsg{}, byID: map[string]*mMsg{}, facets: map[string][]*mMsg{},
		inflight: map[string]int{}, prio: map[string]int{}, idem: map[string]bool{}, own: map[string]int{},
		ownCaps: map[string]int{},
	}
	m.maxAtt = []int{1, 2, 3, 5}[m.rng.IntN(4)]
	m.batch = []int{2, 100}[m.rng.IntN(2)]
	m.deadCap = []int{4, 10000}[m.rng.IntN(2)]
	b, err := broker.New(rdb, broker.Config{
		Namespace: m.ns, LeaseDuration: modelLong, MaxAttempts: m.maxAtt, ReclaimBatch: m.batch,
		DeadLetterCap: m.deadCap,
	})
	if err != nil {
		t.Fatal(err)
	}
	m.b = b
	if err := b.RegisterQueue(m.ctx, modelQueue, `^m\.`); err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d: MaxAttempts %d, ReclaimBatch %d, DeadLetterCap %d, %d steps, namespace %s",
		seed, m.maxAtt, m.batch, m.deadCap, steps, m.ns)
	start := time.Now()
	counts := map[string]int{}
	most, drained := 0, 0
	for m.step = 1; m.step <= steps; m.step++ {
		op := m.randomStep()
		counts[op]++
		m.sync()
		most = max(most, len(m.msgs))
		if len(m.facets) == 0 {
			drained++
		}
	}
	t.Logf("seed %d: %d steps in %v; ops %v; at most %d messages; no ready message after %d steps; %d delivery calls refused by a cap",
		seed, steps, time.Since(start).Round(time.Millisecond), counts, most, drained, m.refused)
}

// fatalf fails the test with the seed, the step and the last steps taken.
func (m *modelRun) fatalf(format string, args ...any) {
	m.t.Helper()
	snap := ""
	if s, err := testutil.ReadQueue(context.WithoutCancel(m.ctx), m.rdb, m.ns, modelQueue); err == nil {
		snap = "\n" + s.Dump(40)
	}
	m.t.Fatalf("seed %d, step %d: %s\nlast steps:\n  %s\nmodel: %s%s\nreproduce: go test ./broker -run 'TestModel/.*/seed=%d$' -model.seed=%d -model.steps=%d",
		m.seed, m.step, fmt.Sprintf(format, args...), strings.Join(m.log, "\n  "), m.describe(), snap,
		m.seed, m.seed, m.step)
}

func (m *modelRun) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf("%4d ", m.step)+fmt.Sprintf(format, args...))
	if len(m.log) > modelLogSize {
		m.log = m.log[1:]
	}
}

// call runs a broker call and records when it started and ended.
func (m *modelRun) call(f func() error) error {
	m.opStart = time.Now().UnixMilli()
	err := f()
	m.opEnd = time.Now().UnixMilli()
	return err
}

// randomStep runs one operation. Phases of 100 steps alternate between
// filling the queue and draining it, so that facets often run dry and fill
// again.
func (m *modelRun) randomStep() string {
	type op struct {
		name   string
		weight int
		run    func()
	}
	fill := m.step/100%2 == 0
	deliver, batch, ack, ackMany, pullN := 12, 6, 9, 3, 7
	if !fill {
		deliver, batch, ack, ackMany, pullN = 2, 1, 14, 8, 12
	}
	ops := []op{
		{"deliver", deliver, func() { m.deliver(1) }},
		{"deliverBatch", batch, func() { m.deliver(1 + m.rng.IntN(6)) }},
		{"deliverBad", 1, m.deliverBad},
		{"pull", 10, func() { m.pull(1) }},
		{"pullN", pullN, func() { m.pull(2 + m.rng.IntN(4)) }},
		{"ack", ack, func() { m.ack(1) }},
		{"ackMany", ackMany, func() { m.ack(2 + m.rng.IntN(3)) }},
		{"nack", 8, m.nack},
		{"extend", 4, m.extend},
		{"release", 4, m.release},
		{"kill", 2, m.kill},
		{"priority", 3, m.setPriority},
		{"limit", 2, m.setLimit},
		{"facetLimit", 2, m.setFacetLimit},
		{"globalConcurrency", 1, m.setGlobalConcurrency},
		{"backlogCap", 2, m.setBacklogCap},
		{"requeueDead", 2, m.requeueDead},
		{"requeueAllDead", 1, m.requeueAllDead},
		{"purgeDead", 1, m.purgeDead},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	n := m.rng.IntN(total)
	for _, o := range ops {
		if n < o.weight {
			o.run()
			return o.name
		}
		n -= o.weight
	}
	panic("unreachable")
}

// duration picks a duration: 0 (with weight w0), a few ms (short), or an
// hour.
func (m *modelRun) duration(w0, wShort, wLong int) (d time.Duration, short bool) {
	n := m.rng.IntN(w0 + wShort + wLong)
	switch {
	case n < w0:
		return 0, false
	case n < w0+wShort:
		return time.Duration(1+m.rng.IntN(3)) * time.Millisecond, true
	}
	return modelLong, false
}

// delay picks a delay as duration does, but short while modelMaxLongDelayed
// messages wait for an hour already: they never come back, and a queue
// that only grows makes every step slower.
func (m *modelRun) delay(w0, wShort, wLong int) (d time.Duration, short bool) {
	d, short = m.duration(w0, wShort, wLong)
	if d == modelLong && m.countLongDelayed() >= modelMaxLongDelayed {
		return time.Millisecond, true
	}
	return d, short
}

func (m *modelRun) countLongDelayed() int {
	n := 0
	for _, x := range m.msgs {
		if x.state == mDelayed && !x.short {
			n++
		}
	}
	return n
}

func (m *modelRun) facet() string { return modelFacets[m.rng.IntN(len(modelFacets))] }

// deliver delivers n messages, with Deliver or DeliverBytes when n is 1,
// else with DeliverBatch.
func (m *modelRun) deliver(n int) {
	ds := make([]broker.Delivery, n)
	var descs []string
	for i := range ds {
		m.counter++
		d := &ds[i]
		d.Facet, d.Topic = m.facet(), "m.t"
		if m.rng.IntN(20) == 0 {
			d.Topic = "other.t" // routed to no queue
		}
		d.Body = []byte(fmt.Sprintf("body-%06d", m.counter))
		if m.rng.IntN(2) == 0 {
			// As Deliver would encode it.
			body, err := json.Marshal(map[string]any{"facet": d.Facet, "topic": d.Topic, "n": m.counter})
			if err != nil {
				m.t.Fatal(err)
			}
			d.Body = body
		}
		d.Delay, _ = m.delay(16, 3, 1)
		if m.rng.IntN(10) == 0 {
			d.IdempotencyKey = fmt.Sprintf("key-%d", m.rng.IntN(8))
		}
		if m.rng.IntN(5) == 0 {
			d.Headers = map[string]string{"h": strconv.Itoa(m.counter)}
		}
		descs = append(descs, fmt.Sprintf("%s/%q/%s/delay=%v/key=%q", d.Facet, d.Body, d.Topic, d.Delay, d.IdempotencyKey))
	}
	var err error
	switch {
	case n > 1:
		m.logf("DeliverBatch %s", strings.Join(descs, " "))
		err = m.call(func() error { return m.b.DeliverBatch(m.ctx, ds) })
	case ds[0].Body[0] == '{' && ds[0].IdempotencyKey == "":
		d := ds[0]
		var msg map[string]any
		if err := json.Unmarshal(d.Body, &msg); err != nil {
			m.t.Fatal(err)
		}
		var opts []broker.DeliverOption
		if d.Delay > 0 {
			opts = append(opts, broker.WithDelay(d.Delay))
		}
		if d.Headers != nil {
			opts = append(opts, broker.WithHeaders(d.Headers))
		}
		m.logf("Deliver %s", descs[0])
		err = m.call(func() error { return m.b.Deliver(m.ctx, msg, opts...) })
	default:
		d := ds[0]
		opts := []broker.DeliverOption{broker.WithDelay(d.Delay), broker.WithHeaders(d.Headers)}
		if d.IdempotencyKey != "" {
			opts = append(opts, broker.WithIdempotencyKey(d.IdempotencyKey, 0))
		}
		m.logf("DeliverBytes %s", descs[0])
		err = m.call(func() error { return m.b.DeliverBytes(m.ctx, d.Topic, d.Facet, d.Body, opts...) })
	}
	if refuse := m.refuses(ds); refuse != "" {
		if !errors.Is(err, broker.ErrBacklogFull) {
			m.fatalf("deliver past %s = %v; want ErrBacklogFull", refuse, err)
		}
		m.refused++
		return // nothing of it was written
	}
	if err != nil {
		m.fatalf("deliver: %v", err)
	}
	for _, d := range ds {
		if d.Topic != "m.t" {
			continue
		}
		if d.IdempotencyKey != "" {
			if m.idem[d.IdempotencyKey] {
				continue
			}
			m.idem[d.IdempotencyKey] = true
		}
		x := &mMsg{key: string(d.Body), facet: d.Facet, topic: d.Topic, headers: d.Headers}
		m.msgs[x.key] = x
		if d.Delay > 0 {
			m.toDelayed(x, d.Delay, d.Delay < modelLong)
		} else {
			m.toReady(x, false)
		}
	}
}

// refuses says which cap refuses the delivery call ds (all of it), or "":
// a facet whose ready messages, with those of ds ready now, would pass its
// backlog cap, or the queue's messages not dead with all of ds.
func (m *modelRun) refuses(ds []broker.Delivery) string {
	adds, total := map[string]int{}, 0
	seen := map[string]bool{}
	for _, d := range ds {
		if d.Topic != "m.t" {
			continue
		}
		if d.IdempotencyKey != "" {
			if m.idem[d.IdempotencyKey] || seen[d.IdempotencyKey] {
				continue
			}
			seen[d.IdempotencyKey] = true
		}
		total++
		if d.Delay == 0 {
			adds[d.Facet]++
		}
	}
	for f, n := range adds {
		limit, ok := m.ownCaps[f]
		if !ok {
			limit = m.backlog
		}
		if limit > 0 && len(m.facets[f])+n > limit {
			return fmt.Sprintf("facet %q's cap of %d", f, limit)
		}
	}
	stored := m.count(mReady) + m.count(mLeased) + m.count(mDelayed)
	if m.queueCap > 0 && total > 0 && stored+total > m.queueCap {
		return fmt.Sprintf("the queue's cap of %d", m.queueCap)
	}
	return ""
}

// deliverBad sends a batch with one invalid delivery: nothing is queued.
func (m *modelRun) deliverBad() {
	ds := []broker.Delivery{
		{Topic: "m.t", Facet: "a", Body: []byte("never")},
		{Topic: "m.t", Facet: "", Body: []byte("never")},
	}
	m.logf("DeliverBatch with an empty facet")
	err := m.call(func() error { return m.b.DeliverBatch(m.ctx, ds) })
	if !errors.Is(err, broker.ErrInvalidFacet) {
		m.fatalf("DeliverBatch with an empty facet = %v; want ErrInvalidFacet", err)
	}
}

func (m *modelRun) prioOf(f string) int {
	if p, ok := m.prio[f]; ok {
		return p
	}
	return 1
}

// limitOf is facet f's in-flight limit: its own, else the queue's.
func (m *modelRun) limitOf(f string) int {
	if n, ok := m.own[f]; ok {
		return n
	}
	return m.limit
}

// pullable tells whether a pull may take from facet f now.
func (m *modelRun) pullable(f string) bool {
	if m.capped > 0 && m.count(mLeased) >= m.capped {
		return false
	}
	return len(m.facets[f]) > 0 && m.prioOf(f) > 0 && (m.limitOf(f) == 0 || m.inflight[f] < m.limitOf(f))
}

// capacity is how many messages pulls could take now, over all facets.
func (m *modelRun) capacity() int {
	n := 0
	for f, l := range m.facets {
		if m.prioOf(f) <= 0 {
			continue
		}
		c := len(l)
		if lim := m.limitOf(f); lim > 0 {
			c = min(c, max(0, lim-m.inflight[f]))
		}
		n += c
	}
	if m.capped > 0 {
		n = min(n, max(0, m.capped-m.count(mLeased)))
	}
	return n
}

// waitShort waits until every short lease and delay has passed by Redis's
// clock, which is the wall clock of this machine.
func (m *modelRun) waitShort() {
	var last int64
	for _, x := range m.msgs {
		switch {
		case !x.short:
		case x.state == mLeased:
			last = max(last, x.deadline)
		case x.state == mDelayed:
			last = max(last, x.due)
		}
	}
	for last > 0 && time.Now().UnixMilli() < last+modelMargin {
		time.Sleep(time.Until(time.UnixMilli(last + modelMargin)))
	}
}

// reclaim does what a pull does first: up to batch expired leases, the
// first in (deadline, ID) order, go back to the head of their facets (or die
// when their attempts are spent), latest lease first, so that messages
// pulled together return in the order they were pulled; then up to batch due
// messages go to the tail, in (due time, ID) order.
func (m *modelRun) reclaim() {
	var expired, due []*mMsg
	for _, x := range m.msgs {
		if x.short && x.state == mLeased {
			expired = append(expired, x)
		}
		if x.short && x.state == mDelayed {
			due = append(due, x)
		}
	}
	byTime := func(at func(*mMsg) int64) func(a, b *mMsg) int {
		return func(a, b *mMsg) int { return cmp.Or(cmp.Compare(at(a), at(b)), strings.Compare(a.id, b.id)) }
	}
	slices.SortFunc(expired, byTime(func(x *mMsg) int64 { return x.deadline }))
	slices.SortFunc(due, byTime(func(x *mMsg) int64 { return x.due }))
	expired = expired[:min(len(expired), m.batch)]
	slices.SortFunc(expired, modelLatestLeaseFirst)
	for _, x := range expired {
		m.endLease(x)
		if x.att >= m.maxAtt {
			m.toDead(x, fmt.Sprintf("lease expired on attempt %d", x.att))
		} else {
			m.toReady(x, true)
		}
	}
	for _, x := range due[:min(len(due), m.batch)] {
		m.toReady(x, false)
	}
}

func modelLatestLeaseFirst(a, b *mMsg) int { return cmp.Compare(b.token, a.token) }

func (m *modelRun) pull(n int) {
	lease, short := m.duration(0, 1, 2)
	m.waitShort()
	m.afterDeaths()
	var got []*broker.Message
	var err error
	switch {
	case short:
		err = m.call(func() (err error) { got, err = leaseN(m.ctx, m.b, modelQueue, n, lease); return })
	case n == 1:
		err = m.call(func() error {
			msg, err := m.b.Pull(m.ctx, modelQueue)
			if msg != nil {
				got = append(got, msg)
			}
			return err
		})
	default:
		err = m.call(func() (err error) { got, err = m.b.PullN(m.ctx, modelQueue, n); return })
	}
	keys := make([]string, len(got))
	for i, g := range got {
		keys[i] = fmt.Sprintf("%s/%q/attempt=%d", g.Facet, g.Body, g.Attempt)
	}
	m.logf("PullN(%d, lease %v) = %s", n, lease, strings.Join(keys, " "))
	if err != nil {
		m.fatalf("pull: %v", err)
	}
	m.reclaim()
	if want := min(n, m.capacity()); len(got) != want {
		m.fatalf("PullN(%d) leased %d messages; want %d (a facet with work and room got no turn?)", n, len(got), want)
	}
	for _, g := range got {
		f := g.Facet
		if !m.pullable(f) {
			m.fatalf("pulled %s from facet %q, which may not be pulled now: %d ready, priority %d, %d in flight, limit %d",
				g, f, len(m.facets[f]), m.prioOf(f), m.inflight[f], m.limitOf(f))
		}
		x := m.facets[f][0]
		if string(g.Body) != x.key || g.ID != x.id {
			m.fatalf("pulled %s %q from facet %q; want its oldest ready message %s %q", g.ID, g.Body, f, x.id, x.key)
		}
		m.facets[f] = m.facets[f][1:]
		x.att++
		if g.Attempt != x.att || g.Topic != x.topic || g.Queue != modelQueue || !g.EnqueuedAt.After(time.Unix(1e9, 0)) {
			m.fatalf("pulled %s: attempt %d, topic %q, queue %q, enqueued %v; want attempt %d, topic %q, queue %q",
				g, g.Attempt, g.Topic, g.Queue, g.EnqueuedAt, x.att, x.topic, modelQueue)
		}
		for k, v := range x.headers {
			if g.Headers[k] != v {
				m.fatalf("pulled %s with headers %v; want %v among them", g, g.Headers, x.headers)
			}
		}
		m.checkWindow("lease deadline of "+g.ID, g.LeaseDeadline.UnixMilli(), lease)
		m.toLeased(x, g, short)
	}
}

// checkWindow checks that a time Redis stamped during the step's call, plus
// d, is within the call.
func (m *modelRun) checkWindow(what string, ms int64, d time.Duration) {
	lo, hi := m.opStart+d.Milliseconds()-1, m.opEnd+d.Milliseconds()+1
	if ms < lo || ms > hi {
		m.fatalf("%s is %d; want it within [%d, %d]", what, ms, lo, hi)
	}
}

// holder picks a lease to give back: a current one mostly, sometimes a
// stale one (its lease expired and was taken back, or the message is gone).
func (m *modelRun) holder() *broker.Message {
	var current, stale []*broker.Message
	for _, h := range m.holders {
		if m.holds(h) {
			current = append(current, h)
		} else {
			stale = append(stale, h)
		}
	}
	switch {
	case len(current) > 0 && (len(stale) == 0 || m.rng.IntN(8) > 0):
		return current[m.rng.IntN(len(current))]
	case len(stale) > 0:
		return stale[m.rng.IntN(len(stale))]
	}
	return nil
}

// holds tells whether h is the message's current lease.
func (m *modelRun) holds(h *broker.Message) bool {
	x := m.byID[h.ID]
	return x != nil && x.state == mLeased && x.holder == h
}

func (m *modelRun) gone(h *broker.Message) bool { return m.byID[h.ID] == nil }

func (m *modelRun) ack(n int) {
	var hs []*broker.Message
	for range n {
		if h := m.holder(); h != nil {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		m.pull(1)
		return
	}
	m.logf("Ack %s", m.describeHolders(hs))
	var err error
	if len(hs) == 1 {
		err = m.call(func() error { return m.b.Ack(m.ctx, hs[0]) })
	} else {
		err = m.call(func() error { return m.b.AckMany(m.ctx, hs) })
	}
	lost := 0
	for _, h := range hs {
		switch {
		case m.holds(h):
			x := m.byID[h.ID]
			m.endLease(x)
			m.forget(x)
		case !m.gone(h):
			lost++
		}
	}
	m.expectLost("ack", err, lost)
}

func (m *modelRun) release() {
	var hs []*broker.Message
	for range 1 + m.rng.IntN(3) {
		if h := m.holder(); h != nil {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		m.pull(1)
		return
	}
	m.logf("Release %s", m.describeHolders(hs))
	err := m.call(func() error { return m.b.Release(m.ctx, hs...) })
	// Released latest lease first, so that messages pulled together return
	// to the head of their facet in the order they were pulled.
	var released []*mMsg
	lost := 0
	for _, h := range hs {
		switch {
		case m.holds(h) && !slices.Contains(released, m.byID[h.ID]):
			released = append(released, m.byID[h.ID])
		case !m.gone(h):
			lost++ // stale, or the same lease given twice
		}
	}
	slices.SortFunc(released, modelLatestLeaseFirst)
	for _, x := range released {
		m.endLease(x)
		x.att--
		m.toReady(x, true)
	}
	m.expectLost("release", err, lost)
}

func (m *modelRun) nack() {
	h := m.holder()
	if h == nil {
		m.pull(1)
		return
	}
	delay, short := m.delay(3, 2, 1)
	var opts []broker.NackOption
	reason := "nacked"
	if m.rng.IntN(2) == 0 {
		reason = fmt.Sprintf("failure %d", m.step)
		opts = append(opts, broker.WithReason(errors.New(reason)))
	}
	m.logf("Nack %s delay %v reason %q", m.describeHolders([]*broker.Message{h}), delay, reason)
	m.afterDeaths()
	err := m.call(func() error { return m.b.Nack(m.ctx, h, delay, opts...) })
	if !m.holds(h) {
		m.expectLost("nack", err, 1) // gone counts as lost for Nack
		return
	}
	m.expectLost("nack", err, 0)
	x := m.byID[h.ID]
	m.endLease(x)
	switch {
	case x.att >= m.maxAtt:
		m.toDead(x, reason)
	case delay == 0:
		m.toReady(x, false)
	default:
		m.toDelayed(x, delay, short)
	}
}

func (m *modelRun) kill() {
	h := m.holder()
	if h == nil {
		m.pull(1)
		return
	}
	reason := fmt.Sprintf("killed at step %d", m.step)
	m.logf("Kill %s", m.describeHolders([]*broker.Message{h}))
	m.afterDeaths()
	err := m.call(func() error { return m.b.Kill(m.ctx, h, reason) })
	if !m.holds(h) {
		m.expectLost("kill", err, 1)
		return
	}
	m.expectLost("kill", err, 0)
	x := m.byID[h.ID]
	m.endLease(x)
	m.toDead(x, reason)
}

func (m *modelRun) extend() {
	h := m.holder()
	if h == nil {
		m.pull(1)
		return
	}
	d, short := m.duration(0, 1, 1)
	m.logf("Extend %s by %v", m.describeHolders([]*broker.Message{h}), d)
	err := m.call(func() error { return m.b.Extend(m.ctx, h, d) })
	if !m.holds(h) {
		m.expectLost("extend", err, 1)
		return
	}
	m.expectLost("extend", err, 0)
	m.checkWindow("extended deadline of "+h.ID, h.LeaseDeadline.UnixMilli(), d)
	x := m.byID[h.ID]
	x.deadline, x.short = h.LeaseDeadline.UnixMilli(), short
}

func (m *modelRun) setPriority() {
	f, p := m.facet(), []int{0, 1, 1, 2, 3}[m.rng.IntN(5)]
	m.logf("SetFacetPriority %q %d", f, p)
	if err := m.call(func() error { return m.b.SetFacetPriority(m.ctx, modelQueue, f, p) }); err != nil {
		m.fatalf("SetFacetPriority: %v", err)
	}
	m.prio[f] = p
}

func (m *modelRun) setLimit() {
	n := []int{0, 0, 1, 2, 3}[m.rng.IntN(5)]
	m.logf("SetInflightLimit %d", n)
	if err := m.call(func() error { return m.b.SetInflightLimit(m.ctx, modelQueue, n) }); err != nil {
		m.fatalf("SetInflightLimit: %v", err)
	}
	m.limit = n
}

func (m *modelRun) setFacetLimit() {
	f := modelFacets[m.rng.IntN(len(modelFacets))]
	n := []int{-1, 0, 1, 2, 3}[m.rng.IntN(5)]
	if n < 0 {
		m.logf("ClearFacetInflightLimit %q", f)
		if err := m.call(func() error { return m.b.ClearFacetInflightLimit(m.ctx, modelQueue, f) }); err != nil {
			m.fatalf("ClearFacetInflightLimit: %v", err)
		}
		delete(m.own, f)
		return
	}
	m.logf("SetFacetInflightLimit %q %d", f, n)
	if err := m.call(func() error { return m.b.SetFacetInflightLimit(m.ctx, modelQueue, f, n) }); err != nil {
		m.fatalf("SetFacetInflightLimit: %v", err)
	}
	m.own[f] = n
}

func (m *modelRun) setGlobalConcurrency() {
	n := []int{0, 0, 2, 4, 7}[m.rng.IntN(5)]
	m.logf("SetGlobalConcurrency %d", n)
	if err := m.call(func() error { return m.b.SetGlobalConcurrency(m.ctx, modelQueue, n) }); err != nil {
		m.fatalf("SetGlobalConcurrency: %v", err)
	}
	m.capped = n
}

// setBacklogCap sets or removes one of the backlog caps: the queue's per
// facet, a facet's own, or the queue's on its messages.
func (m *modelRun) setBacklogCap() {
	switch m.rng.IntN(3) {
	case 0:
		n := []int{0, 0, 2, 4, 8}[m.rng.IntN(5)]
		m.logf("SetBacklogLimit %d", n)
		if err := m.call(func() error { return m.b.SetBacklogLimit(m.ctx, modelQueue, n) }); err != nil {
			m.fatalf("SetBacklogLimit: %v", err)
		}
		m.backlog = n
	case 1:
		f := m.facet()
		n := []int{-1, -1, 0, 1, 3, 6}[m.rng.IntN(6)]
		if n < 0 {
			m.logf("ClearFacetBacklogLimit %q", f)
			if err := m.call(func() error { return m.b.ClearFacetBacklogLimit(m.ctx, modelQueue, f) }); err != nil {
				m.fatalf("ClearFacetBacklogLimit: %v", err)
			}
			delete(m.ownCaps, f)
			return
		}
		m.logf("SetFacetBacklogLimit %q %d", f, n)
		if err := m.call(func() error { return m.b.SetFacetBacklogLimit(m.ctx, modelQueue, f, n) }); err != nil {
			m.fatalf("SetFacetBacklogLimit: %v", err)
		}
		m.ownCaps[f] = n
	default:
		n := []int{0, 0, 12, 25}[m.rng.IntN(4)]
		m.logf("SetQueueBacklogLimit %d", n)
		if err := m.call(func() error { return m.b.SetQueueBacklogLimit(m.ctx, modelQueue, n) }); err != nil {
			m.fatalf("SetQueueBacklogLimit: %v", err)
		}
		m.queueCap = n
	}
}

// deadOrder lists the dead letters oldest first, as the dead zset does.
// Those whose time of death is not learned yet died in this step's call,
// after all others.
func (m *modelRun) deadOrder() []*mMsg {
	var out []*mMsg
	for _, x := range m.msgs {
		if x.state == mDead {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b *mMsg) int {
		return cmp.Or(modelCmpBool(a.learn, b.learn), cmp.Compare(a.diedAt, b.diedAt), strings.Compare(a.id, b.id))
	})
	return out
}

func modelCmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// someDead picks dead letters' IDs, plus now and then an ID that is not a
// dead letter, and a repeat. It picks by key, not by ID or time of death,
// so that a seed makes the same choices in every run.
func (m *modelRun) someDead() []string {
	var ids []string
	keys := slices.Sorted(maps.Keys(m.msgs))
	for _, k := range keys {
		if m.msgs[k].state == mDead && m.rng.IntN(2) == 0 {
			ids = append(ids, m.msgs[k].id)
		}
	}
	if m.rng.IntN(4) == 0 {
		ids = append(ids, "no-such-id")
	}
	if m.rng.IntN(4) == 0 && len(keys) > 0 {
		ids = append(ids, m.msgs[keys[m.rng.IntN(len(keys))]].id)
	}
	if len(ids) > 0 && m.rng.IntN(4) == 0 {
		ids = append(ids, ids[0])
	}
	m.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids
}

func (m *modelRun) requeue(ids []string) int {
	done := 0
	for _, id := range ids {
		if x := m.byID[id]; x != nil && x.state == mDead {
			x.att, x.reason = 0, ""
			m.toReady(x, false)
			done++
		}
	}
	return done
}

func (m *modelRun) requeueDead() {
	ids := m.someDead()
	if len(ids) == 0 {
		m.pull(1)
		return
	}
	m.logf("RequeueDead %q", ids)
	var n int
	err := m.call(func() (err error) { n, err = m.b.RequeueDead(m.ctx, modelQueue, ids...); return })
	if want := m.requeue(ids); err != nil || n != want {
		m.fatalf("RequeueDead = %d, %v; want %d", n, err, want)
	}
}

func (m *modelRun) requeueAllDead() {
	m.logf("RequeueAllDead")
	var n int
	err := m.call(func() (err error) { n, err = m.b.RequeueAllDead(m.ctx, modelQueue); return })
	var ids []string
	for _, x := range m.deadOrder() {
		ids = append(ids, x.id)
	}
	if want := m.requeue(ids); err != nil || n != want {
		m.fatalf("RequeueAllDead = %d, %v; want %d", n, err, want)
	}
}

func (m *modelRun) purgeDead() {
	ids := m.someDead()
	all := len(ids) == 0 || m.rng.IntN(3) == 0
	var n int
	var err error
	if all {
		m.logf("PurgeAllDead")
		err = m.call(func() (err error) { n, err = m.b.PurgeAllDead(m.ctx, modelQueue); return })
		ids = nil
		for _, x := range m.deadOrder() {
			ids = append(ids, x.id)
		}
	} else {
		m.logf("PurgeDead %q", ids)
		err = m.call(func() (err error) { n, err = m.b.PurgeDead(m.ctx, modelQueue, ids...); return })
	}
	want := 0
	for _, id := range ids {
		if x := m.byID[id]; x != nil && x.state == mDead {
			m.forget(x)
			want++
		}
	}
	if err != nil || n != want {
		m.fatalf("purge dead letters = %d, %v; want %d", n, err, want)
	}
}

// expectLost checks that err joins exactly lost ErrLeaseLost and nothing
// else.
func (m *modelRun) expectLost(op string, err error, lost int) {
	m.t.Helper()
	if got := modelCountLost(err); got != lost {
		m.fatalf("%s returned %v; want %d ErrLeaseLost and no other error", op, err, lost)
	}
}

func modelCountLost(err error) int {
	var joined interface{ Unwrap() []error }
	switch {
	case err == nil:
		return 0
	case errors.As(err, &joined):
		n := 0
		for _, e := range joined.Unwrap() {
			n += modelCountLost(e)
		}
		return n
	case errors.Is(err, broker.ErrLeaseLost):
		return 1
	}
	return -1000
}

// Model transitions.

func (m *modelRun) toReady(x *mMsg, head bool) {
	x.state, x.short, x.learn = mReady, false, false
	if head {
		m.facets[x.facet] = append([]*mMsg{x}, m.facets[x.facet]...)
	} else {
		m.facets[x.facet] = append(m.facets[x.facet], x)
	}
}

func (m *modelRun) toLeased(x *mMsg, h *broker.Message, short bool) {
	x.state, x.holder, x.deadline, x.short, x.token = mLeased, h, h.LeaseDeadline.UnixMilli(), short, 0
	m.leasedNow = append(m.leasedNow, x)
	m.inflight[x.facet]++
	m.holders = append(m.holders, h)
	if len(m.holders) > 200 {
		// Keep every current lease; drop the oldest stale ones.
		m.holders = slices.DeleteFunc(m.holders, func(h *broker.Message) bool { return !m.holds(h) && m.rng.IntN(2) == 0 })
	}
}

func (m *modelRun) endLease(x *mMsg) {
	x.holder = nil
	m.inflight[x.facet]--
	if m.inflight[x.facet] == 0 {
		delete(m.inflight, x.facet)
	}
}

// toDelayed files x as due d after the step's call; the exact due time is
// learned from Redis.
func (m *modelRun) toDelayed(x *mMsg, d time.Duration, short bool) {
	x.state, x.short, x.learn = mDelayed, short, true
	x.lo, x.hi = m.opStart+d.Milliseconds()-1, m.opEnd+d.Milliseconds()+1
}

// toDead makes x a dead letter and, beyond the cap, deletes the oldest. The
// time of death is learned after the step; until then x is younger than
// every earlier dead letter (see afterDeaths), and as old as those that died
// in the same call, which are ordered by ID.
func (m *modelRun) toDead(x *mMsg, reason string) {
	x.state, x.short, x.learn, x.reason, x.diedAt = mDead, false, true, reason, 0
	x.lo, x.hi = m.opStart-1, m.opEnd+1
	if dead := m.deadOrder(); len(dead) > m.deadCap {
		for _, old := range dead[:len(dead)-m.deadCap] {
			m.forget(old)
		}
	}
}

// afterDeaths waits, before a call that may make dead letters, until Redis's
// clock is past the time of death of every dead letter, so that the model
// knows which of them the cap trims first.
func (m *modelRun) afterDeaths() {
	var last int64
	for _, x := range m.msgs {
		if x.state == mDead {
			last = max(last, x.diedAt)
		}
	}
	for time.Now().UnixMilli() <= last {
		time.Sleep(time.Until(time.UnixMilli(last + 1)))
	}
}

func (m *modelRun) forget(x *mMsg) {
	delete(m.msgs, x.key)
	delete(m.byID, x.id)
}

func (m *modelRun) count(s mState) int {
	n := 0
	for _, x := range m.msgs {
		if x.state == s {
			n++
		}
	}
	return n
}

// sync reads the queue, checks its invariants, learns the IDs of new
// messages and the times Redis stamped, and compares the rest with the
// model.
func (m *modelRun) sync() {
	m.t.Helper()
	snap, err := testutil.ReadQueue(m.ctx, m.rdb, m.ns, modelQueue)
	if err != nil {
		m.fatalf("read queue: %v", err)
	}
	if err := snap.Check(); err != nil {
		m.fatalf("%v", err)
	}

	// IDs of the messages queued in this step.
	for _, id := range slices.Sorted(maps.Keys(snap.Msgs)) {
		if m.byID[id] != nil {
			continue
		}
		body, ok := modelEnvelopeBody(snap.Msgs[id])
		x := m.msgs[body]
		if !ok || x == nil || x.id != "" {
			m.fatalf("Redis holds message %s (body %q), which the model does not", id, body)
		}
		x.id = id
		m.byID[id] = x
	}
	if len(snap.Msgs) != len(m.msgs) {
		var missing []string
		for _, x := range m.msgs {
			if _, ok := snap.Msgs[x.id]; !ok {
				missing = append(missing, fmt.Sprintf("%s %q (%s)", x.id, x.key, x.state))
			}
		}
		m.fatalf("Redis lacks messages the model holds: %s", strings.Join(missing, ", "))
	}

	// Ready, in order.
	for _, f := range slices.Sorted(maps.Keys(m.facets)) {
		if len(m.facets[f]) == 0 {
			delete(m.facets, f)
		}
	}
	facets := slices.Sorted(maps.Keys(snap.Facets))
	if model := slices.Sorted(maps.Keys(m.facets)); !slices.Equal(facets, model) {
		m.fatalf("facets with ready messages are %q; want %q", facets, model)
	}
	for _, f := range facets {
		want := make([]string, len(m.facets[f]))
		for i, x := range m.facets[f] {
			want[i] = x.id
		}
		if got := snap.Facets[f]; !slices.Equal(got, want) {
			m.fatalf("facet %q holds %q; want %q (oldest first)", f, got, want)
		}
	}

	// Leased, delayed and dead, with their times.
	m.compareZ("leased", snap.Leased, mLeased, func(x *mMsg) *int64 { return &x.deadline })
	m.compareZ("delayed", snap.Delayed, mDelayed, func(x *mMsg) *int64 { return &x.due })
	m.compareZ("dead", snap.Dead, mDead, func(x *mMsg) *int64 { return &x.diedAt })

	leases := snap.Leases()
	for _, x := range m.msgs {
		att, _ := strconv.Atoi(snap.Att[x.id])
		if x.state == mLeased {
			att = int(leases[x.id].Attempt)
		}
		if att != x.att {
			m.fatalf("message %s (%s) has %d attempts; want %d", x.id, x.state, att, x.att)
		}
		if x.state == mDead && snap.DeadErr[x.id] != x.reason {
			m.fatalf("dead letter %s has reason %q; want %q", x.id, snap.DeadErr[x.id], x.reason)
		}
		if x.state == mLeased && leases[x.id].Facet != x.facet {
			m.fatalf("lease of %s is %+v; want facet %q", x.id, leases[x.id], x.facet)
		}
	}
	for _, f := range modelFacets {
		want := ""
		if p := m.prioOf(f); p != 1 {
			want = strconv.Itoa(p)
		}
		if snap.Prio[f] != want {
			m.fatalf("prio[%q] = %q; want %q", f, snap.Prio[f], want)
		}
	}
	if snap.Cfg["limit"] != strconv.Itoa(m.limit) {
		m.fatalf("limit is %q; want %d", snap.Cfg["limit"], m.limit)
	}

	// Lease tokens "<n>-<salt>": n, which orders the messages that go back
	// to the head of a facet together, grows in lease order; the salt makes
	// them unguessable.
	for _, x := range m.leasedNow {
		if x.state != mLeased {
			continue
		}
		token := leases[x.id].Token
		seq, salt, _ := strings.Cut(token, "-")
		n, err := strconv.ParseInt(seq, 10, 64)
		if err != nil || n <= m.lastToken || salt == "" {
			m.fatalf("message %s was leased with token %q; want one above %d, the last token handed out", x.id, token, m.lastToken)
		}
		x.token, m.lastToken = n, n
	}
	m.leasedNow = m.leasedNow[:0]

	m.compareStats()
	if m.step%10 == 0 || m.log != nil && strings.Contains(m.log[len(m.log)-1], "Dead") {
		m.compareDeadLetters()
	}
}

// compareZ compares a sorted set of the queue with the model's messages in
// state s, learning the scores the model waits for.
func (m *modelRun) compareZ(name string, zs []redis.Z, s mState, at func(*mMsg) *int64) {
	m.t.Helper()
	if len(zs) != m.count(s) {
		m.fatalf("%s holds %d messages; want %d", name, len(zs), m.count(s))
	}
	for _, z := range zs {
		id, _ := z.Member.(string)
		if l, ok := testutil.ParseLease(id); ok {
			id = l.ID
		}
		x, score := m.byID[id], int64(z.Score)
		switch {
		case x == nil || x.state != s:
			m.fatalf("%s holds %s, which the model has %v", name, id, x)
		case x.learn:
			if score < x.lo || score > x.hi {
				m.fatalf("%s score of %s is %d; want it within [%d, %d]", name, id, score, x.lo, x.hi)
			}
			*at(x), x.learn = score, false
		case *at(x) != score:
			m.fatalf("%s score of %s is %d; want %d", name, id, score, *at(x))
		}
	}
}

func (m *modelRun) compareStats() {
	st, err := m.b.Stats(m.ctx, modelQueue)
	if err != nil {
		m.fatalf("Stats: %v", err)
	}
	ready := 0
	for _, l := range m.facets {
		ready += len(l)
	}
	want := broker.QueueStats{
		Ready: int64(ready), InFlight: int64(m.count(mLeased)), Delayed: int64(m.count(mDelayed)),
		Dead: int64(m.count(mDead)), Facets: int64(len(m.facets)), InflightLimit: int64(m.limit), Routed: true,
		OwnInflightLimits: int64(len(m.own)), GlobalConcurrency: int64(m.capped),
		BacklogLimit: int64(m.backlog), OwnBacklogLimits: int64(len(m.ownCaps)), QueueBacklogLimit: int64(m.queueCap),
	}
	if st != want {
		m.fatalf("Stats = %+v; want %+v", st, want)
	}
}

func (m *modelRun) compareDeadLetters() {
	dls, err := m.b.DeadLetters(m.ctx, modelQueue, 0, 100000)
	if err != nil {
		m.fatalf("DeadLetters: %v", err)
	}
	want := m.deadOrder()
	if len(dls) != len(want) {
		m.fatalf("DeadLetters lists %d; want %d", len(dls), len(want))
	}
	for i, d := range dls {
		x := want[i]
		if d.ID != x.id || string(d.Body) != x.key || d.Facet != x.facet || d.Attempt != x.att ||
			d.Error != x.reason || d.DiedAt.UnixMilli() != x.diedAt {
			m.fatalf("dead letter %d is %s %q facet %q attempt %d error %q died %d; want %s %q facet %q attempt %d error %q died %d",
				i, d.ID, d.Body, d.Facet, d.Attempt, d.Error, d.DiedAt.UnixMilli(), x.id, x.key, x.facet, x.att, x.reason, x.diedAt)
		}
	}
}

func (m *modelRun) describeHolders(hs []*broker.Message) string {
	var parts []string
	for _, h := range hs {
		state := "current"
		switch {
		case m.gone(h):
			state = "gone"
		case !m.holds(h):
			state = "stale"
		}
		parts = append(parts, fmt.Sprintf("%s/%q/%s", h.ID, h.Body, state))
	}
	return strings.Join(parts, " ")
}

func (m *modelRun) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "limit %d, own limits %v, global concurrency %d, priorities %v, in flight %v", m.limit, m.own, m.capped, m.prio, m.inflight)
	for _, f := range slices.Sorted(maps.Keys(m.facets)) {
		fmt.Fprintf(&b, "\n  facet %q:", f)
		for _, x := range m.facets[f] {
			fmt.Fprintf(&b, " %s(%s)", x.id, x.key)
		}
	}
	for _, s := range []mState{mLeased, mDelayed, mDead} {
		fmt.Fprintf(&b, "\n  %s:", s)
		for _, k := range slices.Sorted(maps.Keys(m.msgs)) {
			if x := m.msgs[k]; x.state == s {
				fmt.Fprintf(&b, " %s(%s,att=%d,short=%v)", x.id, x.key, x.att, x.short)
			}
		}
	}
	return b.String()
}

// modelEnvelopeBody reads the body from a stored envelope:
// "2" <len>":"facet <attempts>":" <len>":"topic <count>":" (<len>":"key
// <len>":"value)* body. A stored envelope always holds a budget of 1 or more.
func modelEnvelopeBody(env string) (string, bool) {
	if env == "" || env[0] != '2' {
		return "", false
	}
	rest := env[1:]
	number := func() (int, bool) {
		i := strings.IndexByte(rest, ':')
		if i < 1 {
			return 0, false
		}
		n, err := strconv.Atoi(rest[:i])
		rest = rest[i+1:]
		return n, err == nil && n >= 0
	}
	// skip skips n length-prefixed fields.
	skip := func(n int) bool {
		for range n {
			l, ok := number()
			if !ok || l > len(rest) {
				return false
			}
			rest = rest[l:]
		}
		return true
	}
	if !skip(1) { // facet
		return "", false
	}
	if att, ok := number(); !ok || att < 1 {
		return "", false
	}
	if !skip(1) { // topic
		return "", false
	}
	count, ok := number()
	if !ok || count > len(rest) || !skip(2*count) { // header keys and values
		return "", false
	}
	return rest, true
}
