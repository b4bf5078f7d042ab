package broker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// Delivery is one message for DeliverBatch.
type Delivery struct {
	// Topic routes the message to queues and names its pub/sub channel.
	Topic string
	// Facet splits a queue's messages, usually by tenant.
	Facet string
	// Body is stored and handed to handlers as it is.
	Body []byte
	// Headers carries metadata, such as trace context, to handlers.
	Headers map[string]string
	// Delay keeps the message from being pulled until it has passed.
	Delay time.Duration
	// IdempotencyKey, when set, makes a second delivery with the same key
	// within IdempotencyWindow queue nothing (per queue).
	IdempotencyKey string
	// IdempotencyWindow is how long the key is remembered.
	// Defaults to Config.IdempotencyWindow.
	IdempotencyWindow time.Duration
	// Receipt, when set, is filled with the message's ID and the queues it
	// reached once the delivery is made (see WithReceipt).
	Receipt *Receipt
	// Unrouted says what happens when no queue's pattern matches Topic.
	// Defaults to Config.Unrouted.
	Unrouted UnroutedPolicy
	// MaxAttempts is how many deliveries the message gets on each queue
	// before it becomes a dead letter, whether its handler failed or its
	// lease expired; it is fixed when the message is queued. 1 to
	// MaxAttemptsLimit. Defaults to the queue's default (SetMaxAttempts),
	// else Config.MaxAttempts.
	MaxAttempts int
	// TTL, when set, expires the message if it has not started TTL after
	// the delivery, measured on Redis's clock: when its turn comes after
	// that, it is not run but becomes a dead letter with the reason
	// "expired", or is dropped, as the queue's policy says
	// (SetExpiryPolicy). Only its first delivery is gated: once started, a
	// message's retries run whenever they come. A delayed message's TTL
	// counts from the delivery too, so it must exceed Delay. At least 1ms.
	// Defaults to the queue's default (SetMessageTTL), else none.
	TTL time.Duration
	// ExpiresAt is TTL given as a time, set instead of it: the TTL is
	// ExpiresAt less the caller's clock at the delivery, so a caller whose
	// clock is off from Redis's gets the TTL it meant, not a deadline off
	// by the skew. It must be in the future.
	ExpiresAt time.Time

	optErr error // the first bad argument an option was given
}

// DeliverOption changes one delivery.
type DeliverOption func(*Delivery)

// WithDelay keeps the message from being pulled until d has passed.
func WithDelay(d time.Duration) DeliverOption {
	return func(x *Delivery) { x.Delay = d }
}

// WithIdempotencyKey queues the message only if no delivery with the same
// key reached the queue within window (0: Config.IdempotencyWindow).
func WithIdempotencyKey(key string, window time.Duration) DeliverOption {
	return func(x *Delivery) { x.IdempotencyKey, x.IdempotencyWindow = key, window }
}

// WithMaxAttempts gives the message n deliveries on each queue before it
// becomes a dead letter (see Delivery.MaxAttempts). n outside 1 to
// MaxAttemptsLimit fails the delivery with ErrInvalidArgument.
func WithMaxAttempts(n int) DeliverOption {
	return func(x *Delivery) {
		if err := checkMaxAttempts(n); err != nil {
			x.setOptErr(err)
			return
		}
		x.MaxAttempts = n
	}
}

// WithHeaders adds headers to the message, such as trace context.
func WithHeaders(h map[string]string) DeliverOption {
	return func(x *Delivery) {
		if x.Headers == nil {
			x.Headers = make(map[string]string, len(h))
		}
		maps.Copy(x.Headers, h)
	}
}

// Deliver JSON-encodes msg, derives its topic and facet with Config.Topic
// and Config.Facet, publishes it on "<namespace>:<topic>", and queues it on
// every registered queue whose pattern matches the topic, in one round trip.
//
// The body is the whole map as json.Marshal encodes it: the fields that
// name the topic and facet ("topic", "type" and "facet" by default) stay in
// it, and handlers see them. To keep them out of the body, use DeliverJSON
// or DeliverBytes, which take the topic and facet as arguments.
//
// A delivery whose topic no queue matches is only published, and the broker
// logs a warning once per topic; RequireQueue (or Config.Unrouted) makes it
// an error instead, and WithReceipt tells the caller which queues it reached.
func (b *Broker) Deliver(ctx context.Context, msg map[string]any, opts ...DeliverOption) error {
	d, err := b.deliveryOf(msg, opts...)
	if err != nil {
		return err
	}
	return b.DeliverBatch(ctx, []Delivery{d})
}

// deliveryOf prepares msg for DeliverBatch as Deliver would deliver it.
func (b *Broker) deliveryOf(msg map[string]any, opts ...DeliverOption) (Delivery, error) {
	if msg == nil {
		return Delivery{}, fmt.Errorf("%w: nil message", ErrInvalidMessage)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return Delivery{}, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	d := Delivery{Topic: b.cfg.Topic(msg), Facet: b.cfg.Facet(msg), Body: body}
	applyOptions(&d, opts)
	return d, nil
}

// DeliverBytes delivers body as it is, with the given topic and facet.
func (b *Broker) DeliverBytes(ctx context.Context, topic, facet string, body []byte, opts ...DeliverOption) error {
	d := Delivery{Topic: topic, Facet: facet, Body: body}
	applyOptions(&d, opts)
	return b.DeliverBatch(ctx, []Delivery{d})
}

// DeliverBatch delivers many messages in one round trip (one per Redis
// Cluster node). Every delivery is validated first: if one is bad, or one
// that requires a queue (RequireQueue) matches none, nothing is delivered.
// A queue whose admission control (SetBacklogLimit, SetQueueBacklogLimit)
// refuses one refuses the batch's deliveries to it, all together: the
// error wraps ErrBacklogFull. Each Delivery with a Receipt gets its own
// filled in.
func (b *Broker) DeliverBatch(ctx context.Context, ds []Delivery) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	if len(ds) == 0 {
		return nil
	}
	ds = slices.Clone(ds) // headers get trace context; the caller's stay as they are
	ctx, span := b.startDeliverSpan(ctx, ds)
	ps, res, err := b.deliverBatch(ctx, ds)
	var lost error // deliveries whose queues went away during the call
	if err == nil {
		lost = b.settleUnrouted(ds, ps, res)
		err = b.awaitWritten(ctx, res) // Config.ReplicaAcks (durability.go)
	}
	if err == nil {
		err = errors.Join(lost, backlogFull(res.refused))
	}
	endSpan(span, err)
	return err
}

func (b *Broker) deliverBatch(ctx context.Context, ds []Delivery) ([]prepared, sendResult, error) {
	prepared, err := b.prepare(ctx, ds)
	if err != nil || len(prepared) == 0 {
		return nil, sendResult{}, err
	}
	if err := b.checkRouted(ctx, ds, prepared); err != nil {
		return nil, sendResult{}, err
	}
	res, err := b.coalesce.deliver(ctx, prepared)
	return prepared, res, err
}

// sendResult is what a send wrote, per message: the queues that have it, by
// their registered names (sorted), and the partitions (queues by their
// names in Redis) that took it. The replica wait after a delivery waits on
// the masters of those partitions, not on those a routing made later
// would give.
type sendResult struct {
	reached [][]string
	written [][]string
	refused [][]Refusal // per message, the queues whose admission control refused it (Index unset)
}

// slice is the part of r for messages lo to hi of the batch.
func (r sendResult) slice(lo, hi int) sendResult {
	return sendResult{reached: r.reached[lo:hi], written: r.written[lo:hi], refused: r.refused[lo:hi]}
}

// sendPrepared routes prepared messages, queues and publishes them, and
// queues them again where a stale registry cache routed them wrong. It is
// the coalescer's send; it returns what it wrote.
func (b *Broker) sendPrepared(ctx context.Context, prepared []prepared) (sendResult, error) {
	r, err := b.route(ctx, prepared)
	if err != nil {
		return sendResult{}, err
	}
	out, err := b.sendBatch(ctx, prepared, r, true)
	if err != nil {
		return sendResult{}, err
	}
	res := sendResult{reached: reachedFor(r), written: reachedFor(r), refused: make([][]Refusal, len(prepared))}
	res.markWritten(r, out)
	if out.version != r.version || len(out.moved) > 0 {
		if err := b.reroute(ctx, prepared, r, out, res); err != nil {
			return sendResult{}, err
		}
	}
	if out.unpublished {
		if err := b.publishReached(ctx, prepared, res); err != nil {
			return sendResult{}, err
		}
	}
	for _, qs := range res.reached {
		slices.Sort(qs)
	}
	return res, nil
}

// publishReached publishes the messages of a batch that some queue took,
// when the enqueue script that was to publish them did not, as admission
// control refused some of its messages.
func (b *Broker) publishReached(ctx context.Context, ps []prepared, res sendResult) error {
	var cmds []*redis.IntCmd
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range ps {
			if len(res.reached[i]) > 0 {
				cmds = append(cmds, p.Publish(ctx, b.keys.topicChannel(ps[i].topic), ps[i].body))
			}
		}
		return nil
	})
	if len(cmds) == 0 {
		return nil
	}
	return wrapRedis("publish", err)
}

// reachedFor makes the per-message lists of queues reached (or written)
// for a batch routed by r: empty, each with room for its routes, in one allocation.
func reachedFor(r routing) [][]string {
	n := 0
	for _, qs := range r.routes {
		n += len(qs)
	}
	buf := make([]string, n)
	reached := make([][]string, len(r.routes))
	off := 0
	for i, qs := range r.routes {
		reached[i] = buf[off : off : off+len(qs)] // a reroute's append beyond it copies
		off += len(qs)
	}
	return reached
}

// markWritten adds to r, once each, the queues that took the messages by
// routed, by their registered names, and the partitions that took them:
// all of by's but those in out.moved, which refused them for their routing,
// and those whose admission control refused them, which r.refused gains.
// A message goes to a few queues, so a slice searched is cheaper than a set.
func (r sendResult) markWritten(by routing, out batchOutcome) {
	for _, x := range out.refused {
		r.refused[x.msg] = append(r.refused[x.msg], x.Refusal)
	}
	for i, qs := range by.routes {
		for _, q := range qs {
			if _, refused := out.moved[q]; refused {
				continue
			}
			if slices.ContainsFunc(out.refused, func(x refusedOn) bool { return x.msg == i && x.partition == q }) {
				continue
			}
			if !slices.Contains(r.reached[i], logicalQueue(q)) {
				r.reached[i] = append(r.reached[i], logicalQueue(q))
			}
			if !slices.Contains(r.written[i], q) {
				r.written[i] = append(r.written[i], q)
			}
		}
	}
}

// maxReroutes is how many times in a row a delivery is sent again because
// the layout it was routed by changed under it; after that it fails rather
// than loop.
const maxReroutes = 3

// prepared is a validated delivery with its ID and envelope.
type prepared struct {
	id, topic, facet string
	env              []byte
	body             []byte
	opts             string // enqueue.lua's options: own budget, own TTL, delay, idempotency window and key
	call             string // the ID of the first message of its caller's call, which admission control admits or refuses whole
}

// ownBudget starts the enqueue options of a message whose delivery set its
// budget: no queue default replaces it (see enqueue.lua).
const ownBudget = "="

// prepare validates ds, encodes their envelopes and gives them IDs. Nothing
// is sent to Redis when one is bad.
func (b *Broker) prepare(ctx context.Context, ds []Delivery) ([]prepared, error) {
	out := make([]prepared, len(ds))
	for i := range ds {
		d := &ds[i]
		if err := b.checkDelivery(d); err != nil {
			return nil, err
		}
		e := envelope{facet: d.Facet, topic: d.Topic, headers: d.Headers, body: d.Body, maxAttempts: cmp.Or(d.MaxAttempts, b.cfg.MaxAttempts)}
		env := e.encode()
		if len(env) > b.cfg.MaxMessageBytes {
			return nil, fmt.Errorf("%w: %d bytes encoded, limit %d", ErrMessageTooLarge, len(env), b.cfg.MaxMessageBytes)
		}
		ttl, err := deliveryTTL(d)
		if err != nil {
			return nil, err
		}
		out[i] = prepared{topic: d.Topic, facet: d.Facet, env: env, body: d.Body}
		if d.MaxAttempts != 0 {
			out[i].opts = ownBudget
		}
		if ttl > 0 {
			out[i].opts += ownTTL(ttl)
		}
		if d.Delay > 0 || d.IdempotencyKey != "" {
			window := cmp.Or(d.IdempotencyWindow, b.cfg.IdempotencyWindow)
			out[i].opts += ms(d.Delay) + ":" + ms(window) + ":" + d.IdempotencyKey
		}
	}
	producer, err := b.producerNumber(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for i := range out {
		out[i].id = b.ids.newID(producer, now)
		out[i].call = out[0].id
	}
	return out, nil
}

func (b *Broker) checkDelivery(d *Delivery) error {
	if d.optErr != nil {
		return d.optErr
	}
	if d.Unrouted < UnroutedDefault || d.Unrouted > UnroutedReject {
		return fmt.Errorf("%w: Unrouted policy %d", ErrInvalidArgument, d.Unrouted)
	}
	if err := validName(ErrInvalidTopic, "topic", d.Topic); err != nil {
		return err
	}
	if err := validName(ErrInvalidFacet, "facet", d.Facet); err != nil {
		return err
	}
	if d.Delay < 0 {
		return fmt.Errorf("%w: negative delay %v", ErrInvalidArgument, d.Delay)
	}
	if d.MaxAttempts != 0 {
		if err := checkMaxAttempts(d.MaxAttempts); err != nil {
			return err
		}
	}
	if d.IdempotencyKey != "" {
		if err := validName(ErrInvalidArgument, "idempotency key", d.IdempotencyKey); err != nil {
			return err
		}
		if d.IdempotencyWindow < 0 || d.IdempotencyWindow > 0 && d.IdempotencyWindow < time.Millisecond {
			return fmt.Errorf("%w: idempotency window %v is below 1ms", ErrInvalidArgument, d.IdempotencyWindow)
		}
	}
	return nil
}

// batchOutcome is what one sendBatch did: the registry's version it read,
// the queues that refused the messages because their pattern changed, with
// their pattern now, or with "" when the queue is gone or not routed (a
// partition dropped after a change of count answers so), the messages
// admission control refused, and whether the publishing script therefore
// published nothing.
type batchOutcome struct {
	version     int64
	moved       map[string]string
	refused     []refusedOn
	unpublished bool
}

// refusedOn is a Refusal of message msg of a batch by partition (or
// queue) partition.
type refusedOn struct {
	Refusal
	msg       int
	partition string
}

// sendBatch queues each prepared message on its routes and, when publish is
// set, publishes it, all in one round trip that also reads the registry's
// version, and says what it did.
//
// The last queue's enqueue script publishes every message of the batch (so
// that, as when PUBLISH followed the scripts, subscribers hear of a message
// once it is queued on every queue of one server), and the first, on a
// client of one server (not a Cluster, where the version lives in another
// slot), reads the version: a delivery to one queue is a single EVALSHA.
// Messages routed nowhere are published with PUBLISH when no script runs.
func (b *Broker) sendBatch(ctx context.Context, ps []prepared, r routing, publish bool) (batchOutcome, error) {
	ctx, cancel := b.bounded(ctx) // enqueue calls carry replay markers (replay.go)
	defer cancel()
	perQueue := make(map[string][]int)
	var order []string
	for i, qs := range r.routes {
		for _, q := range qs {
			if _, ok := perQueue[q]; !ok {
				order = append(order, q)
			}
			perQueue[q] = append(perQueue[q], i)
		}
	}
	_, oneServer := b.rdb.(*redis.Client)
	calls := make([]*scriptCall, len(order))
	for n, q := range order {
		idx := perQueue[q]
		pubs := 0
		if n == len(order)-1 && publish {
			pubs = len(ps)
		}
		args := make([]any, 0, 3+2*pubs+4*len(idx))
		args = append(args, r.patterns[q], b.cfg.DeadLetterCap, pubs)
		for i := range pubs {
			args = append(args, b.keys.topicChannel(ps[i].topic), ps[i].body)
		}
		for k, i := range idx {
			p := &ps[i]
			opts := p.opts
			if k > 0 && ps[idx[k-1]].call == p.call {
				opts = joinsCall + opts
			}
			args = append(args, p.id, p.facet, p.env, opts)
		}
		calls[n] = b.queueCall(scriptEnqueue, q, args...)
		if n == 0 && oneServer {
			calls[n].keys = append(calls[n].keys, b.keys.registryVersion())
		}
	}
	var ver *redis.StringCmd
	var pubs []*redis.IntCmd
	if len(calls) == 1 && oneServer {
		// One command: no pipeline needed, and Run loads the script if
		// the server lost it.
		c := calls[0]
		c.cmd = c.script.Run(ctx, b.rdb, c.keys, c.args...)
	} else {
		_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			if len(calls) == 0 || !oneServer {
				ver = p.Get(ctx, b.keys.registryVersion())
			}
			for _, c := range calls {
				c.queue(ctx, p)
			}
			if publish && len(calls) == 0 {
				for i := range ps {
					pubs = append(pubs, p.Publish(ctx, b.keys.topicChannel(ps[i].topic), ps[i].body))
				}
			}
			return nil
		})
		if err != nil && ver != nil && ver.Err() != nil && !errors.Is(ver.Err(), redis.Nil) {
			return batchOutcome{}, wrapRedis("deliver", ver.Err()) // the connection failed
		}
		if err := rerunLost(ctx, b.rdb, calls); err != nil {
			return batchOutcome{}, wrapRedis("deliver", err)
		}
	}
	var out batchOutcome
	if ver != nil {
		out.version, _ = ver.Int64()
	}
	for i, c := range calls {
		if err := c.cmd.Err(); err != nil {
			return batchOutcome{}, wrapRedis("deliver", err)
		}
		res, ok := c.cmd.Val().([]any)
		if !ok || len(res) < 2 || len(res) > 3 {
			return batchOutcome{}, fmt.Errorf("broker: deliver: unexpected reply %v", c.cmd.Val())
		}
		if len(res) == 3 {
			refused, err := refusalsOf(res[2], ps, perQueue[order[i]], order[i])
			if err != nil {
				return batchOutcome{}, err
			}
			out.refused = append(out.refused, refused...)
			out.unpublished = out.unpublished || publish && i == len(calls)-1
		}
		pattern, ok := res[0].(string)
		if code, isInt := res[0].(int64); isInt && code < 0 {
			pattern, ok = "", true // gone: queued nothing
		}
		if ok {
			if out.moved == nil {
				out.moved = make(map[string]string)
			}
			out.moved[order[i]] = pattern
		}
		if v, ok := res[1].(int64); ok && len(c.keys) > 2 { // read the version
			out.version = v
		}
	}
	for _, c := range pubs {
		if err := c.Err(); err != nil {
			return batchOutcome{}, wrapRedis("publish", err)
		}
	}
	return out, nil
}

// joinsCall starts the enqueue options of a message that belongs to the
// same delivery call as the one before it on its queue (see enqueue.lua).
const joinsCall = "&"

// refusalsOf reads the refusals of an enqueue reply (enqueue.lua: position,
// 'f' or 'q', cap; three per refused message) of partition q, which got
// the messages idx of ps.
func refusalsOf(v any, ps []prepared, idx []int, q string) ([]refusedOn, error) {
	flat, ok := v.([]any)
	if !ok || len(flat)%3 != 0 {
		return nil, fmt.Errorf("broker: deliver: unexpected refusals %v", v)
	}
	out := make([]refusedOn, 0, len(flat)/3)
	for k := 0; k < len(flat); k += 3 {
		pos, ok1 := flat[k].(int64)
		kind, ok2 := flat[k+1].(string)
		limit, ok3 := flat[k+2].(int64)
		if !ok1 || !ok2 || !ok3 || pos < 1 || int(pos) > len(idx) {
			return nil, fmt.Errorf("broker: deliver: unexpected refusals %v", v)
		}
		i := idx[pos-1]
		out = append(out, refusedOn{
			Refusal:   Refusal{Queue: logicalQueue(q), Facet: ps[i].facet, WholeQueue: kind == "q", Cap: int(limit)},
			msg:       i,
			partition: q,
		})
	}
	return out, nil
}

// reroute queues the messages of a batch routed by a stale registry cache on
// the queues it missed: those registered since the cache was loaded, those
// that refused the messages because their pattern changed, when the new
// pattern matches, and the current partitions of a queue whose partition
// the messages were routed to is gone (dropped after a change of count).
// When the layout changes again under the new routes, it tries again, up to
// maxReroutes times, then fails: a message is queued or the call errs.
// res holds what was written so far, and gains what the reroutes write.
func (b *Broker) reroute(ctx context.Context, ps []prepared, last routing, out batchOutcome, res sendResult) error {
	for range maxReroutes {
		next, found, err := b.rerouting(ctx, ps, last, out.version, out.moved, res)
		if err != nil || !found {
			return err
		}
		out, err = b.sendBatch(ctx, ps, next, false)
		if err != nil {
			return err
		}
		res.markWritten(next, out)
		if out.version == next.version && len(out.moved) == 0 {
			return nil
		}
		last = next
	}
	return fmt.Errorf("%w: deliver: the registry kept changing under %d reroutes", ErrConflict, maxReroutes)
}

// rerouting is the routing of reroute's next attempt after last, and
// whether it routes anything: to every queue of a fresh routing that a
// message has not reached, when the registry changed or a partition is
// gone, and to the queues of last that refused it by a pattern that still
// matches.
func (b *Broker) rerouting(ctx context.Context, ps []prepared, last routing, version int64, moved map[string]string, res sendResult) (routing, bool, error) {
	next := routing{version: last.version, routes: make([][]string, len(ps)), patterns: make(map[string]string)}
	if version != last.version || slices.Contains(slices.Collect(maps.Values(moved)), "") {
		if err := b.loadRegistry(ctx); err != nil {
			return routing{}, false, err
		}
		fresh, err := b.route(ctx, ps)
		if err != nil {
			return routing{}, false, err
		}
		next.version = fresh.version
		for i := range ps {
			for _, q := range fresh.routes[i] {
				if !slices.Contains(res.reached[i], logicalQueue(q)) && !refusedBy(res.refused[i], q) {
					next.add(i, q, fresh.patterns[q])
				}
			}
		}
	}
	found := false
	for i := range ps {
		for _, q := range last.routes[i] {
			pattern, ok := moved[q]
			if ok && pattern != "" && matches(pattern, ps[i].topic) &&
				!slices.ContainsFunc(next.routes[i], func(n string) bool { return logicalQueue(n) == logicalQueue(q) }) {
				next.add(i, q, pattern)
			}
		}
		found = found || len(next.routes[i]) > 0
	}
	return next, found, nil
}

// matches reports whether pattern, as RegisterQueue validated it, matches
// topic.
func matches(pattern, topic string) bool {
	re, err := regexp.Compile(pattern)
	return err == nil && re.MatchString(topic)
}

// refusedBy reports whether one of a message's refusals is queue q's.
func refusedBy(rs []Refusal, q string) bool {
	return slices.ContainsFunc(rs, func(r Refusal) bool { return r.Queue == logicalQueue(q) })
}
