package cli

// The --json output of every command, in one place: docs/operators.md
// ("JSON output") documents each shape, and json_test.go decodes every
// command's output into its own copy of it with unknown fields refused.
//
// The rules: keys are snake_case; times are RFC 3339 strings in UTC (null
// when there is none); durations are whole milliseconds in keys ending in
// _ms; one thing is one object, a list of things an array (never null);
// errors are {"error": {...}} on stderr. Broker structs are never
// marshaled directly, so that a change in the broker cannot change this
// schema unseen: each type here copies the fields it shows.

import (
	"encoding/json"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// rateJSON is a rate limit.
type rateJSON struct {
	Text    string `json:"text"` // as typed: "10/1s", "600/1m,20", or "off"
	N       int    `json:"n"`
	PerMS   int64  `json:"per_ms"`
	Burst   int    `json:"burst"` // 0 and 1 are the same: one at a time
	Limited bool   `json:"limited"`
}

func toRateJSON(r broker.RateLimit) rateJSON {
	return rateJSON{Text: r.String(), N: r.N, PerMS: r.Per.Milliseconds(), Burst: r.Burst, Limited: !r.IsZero()}
}

// queueJSON is one queue: "queues" (an array of them) and "stats".
type queueJSON struct {
	Queue         string   `json:"queue"`
	Pattern       *string  `json:"pattern"` // null when the queue is not routed
	State         string   `json:"state"`   // active, paused or unrouted
	Ready         int64    `json:"ready"`
	InFlight      int64    `json:"in_flight"`
	Delayed       int64    `json:"delayed"`
	Dead          int64    `json:"dead"`
	Facets        int64    `json:"facets"`          // facets with ready messages
	InFlightLimit int64    `json:"in_flight_limit"` // per facet; 0 is none
	MaxAttempts   int64    `json:"max_attempts"`    // the queue's default budget; 0 is none
	Routed        bool     `json:"routed"`
	Paused        bool     `json:"paused"`
	RateLimit     rateJSON `json:"rate_limit"`   // the default per facet
	RateLimited   int64    `json:"rate_limited"` // facets held back now
	// QueueRateLimit is the rate limit of the whole queue, all facets
	// together.
	QueueRateLimit    rateJSON `json:"queue_rate_limit"`
	GlobalConcurrency int64    `json:"global_concurrency"`   // the most leased at once over every worker; 0 is none
	StrictOrder       bool     `json:"strict_order"`         // one message per facet at a time
	OwnInFlightLimits int64    `json:"own_in_flight_limits"` // facets with an in-flight limit of their own
	TTLMS             int64    `json:"ttl_ms"`               // the queue's default TTL; 0 is none
	ExpiryPolicy      string   `json:"expiry_policy"`        // dead-letter or drop
	Expired           int64    `json:"expired"`              // messages that expired at their turn
	BacklogCap        int64    `json:"backlog_cap"`          // most ready messages per facet; 0 is none
	OwnBacklogCaps    int64    `json:"own_backlog_caps"`     // facets with a backlog cap of their own
	QueueCap          int64    `json:"queue_cap"`            // most messages of the queue; 0 is none
	BacklogPolicy     string   `json:"backlog_policy"`       // refuse or drop
	Dropped           int64    `json:"dropped"`              // ready messages dead-lettered to make room
	// Partitions is how many partitions new messages are spread over
	// ("fairway queues" only; 0 in "fairway stats").
	Partitions int `json:"partitions,omitempty"`
}

func toQueueJSON(queue string, pattern *string, st broker.QueueStats) queueJSON {
	return queueJSON{
		Queue: queue, Pattern: pattern, State: state(st),
		Ready: st.Ready, InFlight: st.InFlight, Delayed: st.Delayed, Dead: st.Dead, Facets: st.Facets,
		InFlightLimit: st.InflightLimit, MaxAttempts: st.MaxAttempts, Routed: st.Routed, Paused: st.Paused,
		RateLimit: toRateJSON(st.RateLimit), RateLimited: st.RateLimited,
		QueueRateLimit: toRateJSON(st.QueueRateLimit), GlobalConcurrency: st.GlobalConcurrency,
		StrictOrder: st.StrictOrder, OwnInFlightLimits: st.OwnInflightLimits,
		TTLMS: st.MessageTTL.Milliseconds(), ExpiryPolicy: st.ExpiryPolicy.String(), Expired: st.Expired,
		BacklogCap: st.BacklogLimit, OwnBacklogCaps: st.OwnBacklogLimits, QueueCap: st.QueueBacklogLimit,
		BacklogPolicy: st.BacklogPolicy.String(), Dropped: st.Dropped,
	}
}

// facetJSON is one facet: "facets QUEUE" (an array) and "facets QUEUE FACET".
type facetJSON struct {
	Queue        string   `json:"queue"`
	Facet        string   `json:"facet"`
	State        string   `json:"state"` // active or paused
	Ready        int64    `json:"ready"`
	InFlight     int64    `json:"in_flight"`
	Priority     int      `json:"priority"`
	Paused       bool     `json:"paused"`
	RateLimit    rateJSON `json:"rate_limit"`     // the one that applies
	OwnRateLimit bool     `json:"own_rate_limit"` // rate_limit is the facet's own
	// RateLimitedUntil is when the rate limit frees the facet, or null.
	RateLimitedUntil *string `json:"rate_limited_until"`
	// InFlightLimit is the in-flight limit that applies (its own, else the
	// queue's; 1 under strict order); 0 is none.
	InFlightLimit    int  `json:"in_flight_limit"`
	OwnInFlightLimit bool `json:"own_in_flight_limit"` // in_flight_limit is the facet's own
	// BacklogCap is the backlog cap that applies (its own, else the
	// queue's); 0 is none.
	BacklogCap    int  `json:"backlog_cap"`
	OwnBacklogCap bool `json:"own_backlog_cap"` // backlog_cap is the facet's own
}

func toFacetJSON(queue string, f broker.FacetStats) facetJSON {
	return facetJSON{
		Queue: queue, Facet: f.Facet, State: facetState(f), Ready: f.Ready, InFlight: f.InFlight,
		Priority: f.Priority, Paused: f.Paused, RateLimit: toRateJSON(f.RateLimit), OwnRateLimit: f.OwnRateLimit,
		RateLimitedUntil: timeOrNull(f.RateLimitedUntil),
		InFlightLimit:    f.InflightLimit, OwnInFlightLimit: f.OwnInflightLimit,
		BacklogCap: f.BacklogLimit, OwnBacklogCap: f.OwnBacklogLimit,
	}
}

// messageJSON is one message: "peek" (an array). The body is the JSON it
// holds, or body_text when it is not JSON.
type messageJSON struct {
	ID         string            `json:"id"`
	Topic      string            `json:"topic"`
	Facet      string            `json:"facet"`
	Attempt    int               `json:"attempt"`
	MaxAttempt int               `json:"max_attempts"`
	EnqueuedAt string            `json:"enqueued_at"`
	ExpiresAt  *string           `json:"expires_at"` // null when it never expires
	Headers    map[string]string `json:"headers,omitempty"`
	Body       json.RawMessage   `json:"body,omitempty"`
	BodyText   *string           `json:"body_text,omitempty"`
}

func toMessageJSON(m *broker.Message) messageJSON {
	r := messageJSON{ID: m.ID, Topic: m.Topic, Facet: m.Facet, Attempt: m.Attempt, MaxAttempt: m.MaxAttempts, EnqueuedAt: utcText(m.EnqueuedAt), ExpiresAt: timeOrNull(m.ExpiresAt), Headers: m.Headers}
	r.Body, r.BodyText = bodyJSON(m.Body)
	return r
}

// bodyJSON is a body as JSON when it is, else as text.
func bodyJSON(b []byte) (json.RawMessage, *string) {
	if json.Valid(b) {
		return json.RawMessage(b), nil
	}
	s := string(b)
	return nil, &s
}

// deadJSON is one dead letter: "dead list" (an array).
type deadJSON struct {
	messageJSON
	Error  string `json:"error"`
	DiedAt string `json:"died_at"`
	// Stack is the panic's stack kept with the dead letter; "" when none.
	Stack string `json:"stack"`
}

// deadActJSON is "dead requeue" and "dead purge".
type deadActJSON struct {
	Queue    string `json:"queue"`
	Action   string `json:"action"`    // requeue or purge
	Count    int    `json:"count"`     // dead letters requeued or purged
	NotFound int    `json:"not_found"` // IDs given that were not dead letters
}

// destroyJSON is "destroy".
type destroyJSON struct {
	Queue     string `json:"queue"`
	Destroyed bool   `json:"destroyed"`
	Messages  int64  `json:"messages"` // what it held, dead letters included
}

// deliverJSON is "deliver".
type deliverJSON struct {
	ID     string   `json:"id"` // the message's ID, the same in every queue
	Topic  string   `json:"topic"`
	Facet  string   `json:"facet"`
	Queues []string `json:"queues"` // the queues it reached; empty: published only
}

// eventJSON is one delivery "tail" saw, one object a line.
type eventJSON struct {
	Time     string          `json:"time"` // when tail received it
	Topic    string          `json:"topic"`
	Body     json.RawMessage `json:"body,omitempty"`
	BodyText *string         `json:"body_text,omitempty"`
}

// registerJSON is "register".
type registerJSON struct {
	Queue   string `json:"queue"`
	Pattern string `json:"pattern"`
}

// queueStateJSON is "unregister", "pause" and "resume": what the queue (or
// facet) is now.
type queueStateJSON struct {
	Queue string `json:"queue"`
	Facet string `json:"facet,omitempty"` // only for a facet
	State string `json:"state"`           // unrouted, paused or active
}

// partitionsJSON is "partitions QUEUE" and "partitions QUEUE K".
type partitionsJSON struct {
	Queue      string   `json:"queue"`
	Count      int      `json:"count"`
	Generation int      `json:"generation"`
	Names      []string `json:"names"`
	Draining   []string `json:"draining"`
}

// priorityJSON is "priority".
type priorityJSON struct {
	Queue    string `json:"queue"`
	Facet    string `json:"facet"`
	Priority int    `json:"priority"`
}

// limitJSON is "limit QUEUE [N]".
type limitJSON struct {
	Queue         string `json:"queue"`
	InFlightLimit int64  `json:"in_flight_limit"` // per facet; 0 is none
	StrictOrder   bool   `json:"strict_order"`    // every facet's limit is 1 while it is on
	// Facets are the facets with a limit of their own; 0 exempts one.
	Facets []facetLimitJSON `json:"facets"`
}

// facetLimitJSON is one facet's own in-flight limit in limitJSON.
type facetLimitJSON struct {
	Facet         string `json:"facet"`
	InFlightLimit int    `json:"in_flight_limit"` // 0: none, whatever the queue's
}

// limitSetJSON is "limit QUEUE [FACET] N|off|default".
type limitSetJSON struct {
	Queue string `json:"queue"`
	Facet string `json:"facet,omitempty"` // only for a facet
	// InFlightLimit is the limit set; null when a facet's own was dropped
	// ("default"), so that the queue's applies.
	InFlightLimit *int `json:"in_flight_limit"`
}

// capJSON is "cap QUEUE".
type capJSON struct {
	Queue      string `json:"queue"`
	BacklogCap int64  `json:"backlog_cap"` // most ready messages per facet; 0 is none
	QueueCap   int64  `json:"queue_cap"`   // most messages of the queue; 0 is none
	Policy     string `json:"policy"`      // refuse or drop
	Dropped    int64  `json:"dropped"`     // ready messages dead-lettered to make room
	// Facets are the facets with a cap of their own; 0 exempts one.
	Facets []facetCapJSON `json:"facets"`
}

// facetCapJSON is one facet's own backlog cap in capJSON.
type facetCapJSON struct {
	Facet      string `json:"facet"`
	BacklogCap int    `json:"backlog_cap"` // 0: none, whatever the queue's
}

// capSetJSON is "cap [--whole-queue | --policy P] QUEUE [FACET] [N|off|default]":
// the one setting changed, the others omitted.
type capSetJSON struct {
	Queue string `json:"queue"`
	Facet string `json:"facet,omitempty"` // only for a facet
	// BacklogCap is the facet cap set; null when a facet's own was dropped
	// ("default"), so that the queue's applies.
	BacklogCap *int   `json:"backlog_cap,omitempty"`
	QueueCap   *int   `json:"queue_cap,omitempty"` // --whole-queue
	WholeQueue bool   `json:"whole_queue,omitempty"`
	Policy     string `json:"policy,omitempty"` // --policy
}

// orderJSON is "order QUEUE [strict|off]".
type orderJSON struct {
	Queue       string `json:"queue"`
	StrictOrder bool   `json:"strict_order"`
}

// concurrencyJSON is "concurrency QUEUE [N]".
type concurrencyJSON struct {
	Queue             string `json:"queue"`
	GlobalConcurrency int64  `json:"global_concurrency"` // 0 is none
}

// migrateJSON is "migrate [QUEUE...]": the queues now in this layout.
type migrateJSON struct {
	Queues []string `json:"queues"`
}

// attemptsJSON is "attempts QUEUE [N]".
type attemptsJSON struct {
	Queue       string `json:"queue"`
	MaxAttempts int64  `json:"max_attempts"` // the queue's default; 0 is none
}

// ttlJSON is "ttl QUEUE [DURATION]": the queue's expiry settings after the
// command.
type ttlJSON struct {
	Queue        string `json:"queue"`
	TTLMS        int64  `json:"ttl_ms"`        // the queue's default TTL; 0 is none
	ExpiryPolicy string `json:"expiry_policy"` // dead-letter or drop
	Expired      int64  `json:"expired"`       // messages that expired at their turn
}

// rateSetJSON is "ratelimit QUEUE [FACET] LIMIT".
type rateSetJSON struct {
	Queue string `json:"queue"`
	Facet string `json:"facet,omitempty"` // only for a facet
	// RateLimit is the limit set; null when a facet's own was dropped
	// ("default"), so that the queue's default applies.
	RateLimit *rateJSON `json:"rate_limit"`
	// WholeQueue tells that RateLimit is the limit of the whole queue
	// (--whole-queue), not the facets' default.
	WholeQueue bool `json:"whole_queue,omitempty"`
}

// rateShowJSON is "ratelimit QUEUE".
type rateShowJSON struct {
	Queue       string          `json:"queue"`
	Default     rateJSON        `json:"default"`
	WholeQueue  rateJSON        `json:"whole_queue"` // all facets together, on top of theirs
	RateLimited int64           `json:"rate_limited"`
	Facets      []facetRateJSON `json:"facets"` // facets with their own limit, by name
}

// facetRateJSON is a facet's own rate limit.
type facetRateJSON struct {
	Facet     string   `json:"facet"`
	RateLimit rateJSON `json:"rate_limit"`
}

// scheduleJSON is one schedule: "schedules" (an array).
type scheduleJSON struct {
	Name     string  `json:"name"`
	Spec     string  `json:"spec"`
	Location string  `json:"location"`
	Topic    string  `json:"topic,omitempty"` // empty when the schedule builds its messages
	Facet    string  `json:"facet,omitempty"`
	CatchUp  string  `json:"catch_up"`
	LastRun  *string `json:"last_run"` // null before the first run
	NextRun  *string `json:"next_run"` // null when unknown
}

// forgetJSON is "schedules forget".
type forgetJSON struct {
	Schedule string `json:"schedule"`
	State    string `json:"state"` // forgotten
}

// checkJSON is "check".
type checkJSON struct {
	Servers  []serverJSON `json:"servers"`
	Problems []string     `json:"problems"`
}

// serverJSON is one Redis server in "check".
type serverJSON struct {
	Server          string `json:"server"`
	MaxmemoryPolicy string `json:"maxmemory_policy"` // "unknown" when INFO is refused
	MayEvict        bool   `json:"may_evict"`
}

// versionJSON is "version".
type versionJSON struct {
	Version string `json:"version"`
}

// errorJSON is what every command prints on stderr, instead of text, for
// an error under --json; the exit code is Exit's.
type errorJSON struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string `json:"code"` // see errorCode
	Message string `json:"message"`
	Exit    int    `json:"exit"`
}

// warningJSON is what a command prints on stderr, under --json, of a
// problem that does not stop it (a Redis that may evict keys), before its
// output.
type warningJSON struct {
	Warning warningBody `json:"warning"`
}

type warningBody struct {
	Code    string `json:"code"` // may_evict
	Message string `json:"message"`
}

// timeOrNull is t in RFC 3339 UTC, or null when t is zero.
func timeOrNull(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := utcText(t)
	return &s
}

// utcText is t in RFC 3339 UTC, to the nanosecond it holds.
func utcText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
