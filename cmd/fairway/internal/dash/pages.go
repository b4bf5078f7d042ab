package dash

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/cmd/fairway/internal/ratespec"
	"github.com/fairwayhq/fairway/scheduler"
)

// page is what every template gets.
type page struct {
	Title     string
	Namespace string
	CSRF      string
	Refresh   int // seconds
	Flash     string
	// Warnings are what may lose messages on this Redis (a policy that
	// evicts keys: broker.CheckServer), shown on every page.
	Warnings []string
	Data     any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	p := page{
		Title: title, Namespace: s.b.Namespace(), CSRF: s.csrf,
		Refresh: int(s.opts.Refresh / time.Second), Flash: r.URL.Query().Get("msg"), Data: data,
	}
	if name == "destroy" {
		p.Refresh = 0 // a confirmation stays as the operator left it
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	rep, _ := s.b.CheckServer(ctx) // unreachable: the page's own data says so
	cancel()
	p.Warnings = rep.Problems
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.tmpl.ExecuteTemplate(w, name, p); err != nil {
		http.Error(w, "dash: render: "+err.Error(), http.StatusInternalServerError)
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, broker.ErrUnknownQueue), errors.Is(err, broker.ErrInvalidQueueName):
		code = http.StatusNotFound
	case isBadInput(err):
		code = http.StatusBadRequest
	}
	w.WriteHeader(code)
	s.render(w, r, "error", "Error", err.Error())
}

func isBadInput(err error) bool {
	return errors.Is(err, broker.ErrInvalidArgument) || errors.Is(err, broker.ErrInvalidFacet)
}

// queueRow is one queue on the overview, registered or not.
type queueRow struct {
	Name, Pattern string // Pattern is "" for an unrouted queue
	broker.QueueStats
	Processed, Failed int64 // over the last hour
}

type overviewData struct {
	Queues   []queueRow
	Unrouted bool // some queue is unrouted: the page says what that means
	Chart    throughputChart
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	qs, err := s.b.ListQueues(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var d overviewData
	var hs [][]broker.HistoryPoint
	for _, q := range qs {
		name := q.Name
		st, err := s.b.Stats(ctx, name)
		if errors.Is(err, broker.ErrUnknownQueue) {
			continue // destroyed since it was listed
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h, err := s.b.History(ctx, name, s.opts.Now(), 60)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		hs = append(hs, h)
		row := queueRow{Name: name, Pattern: q.Pattern, QueueStats: st}
		for _, p := range h {
			row.Processed += p.Processed
			row.Failed += p.Failed
		}
		d.Queues = append(d.Queues, row)
		d.Unrouted = d.Unrouted || !st.Routed
	}
	d.Chart = newThroughputChart(sumHistory(hs))
	s.render(w, r, "overview", "Queues", d)
}

type queueData struct {
	Name    string
	Stats   broker.QueueStats
	Facets  []broker.FacetStats
	Bars    facetChart
	Chart   throughputChart
	Next    []*broker.Message
	TopN    int
	Pattern string
	// Partitions is how the queue is split (one partition: not split).
	Partitions broker.Partitioning
}

func (s *Server) queuePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.PathValue("queue")
	d := queueData{Name: q, TopN: 20}
	var err error
	if d.Stats, err = s.b.Stats(ctx, q); err != nil {
		s.fail(w, r, err)
		return
	}
	if d.Facets, err = s.b.TopFacets(ctx, q, d.TopN); err != nil {
		s.fail(w, r, err)
		return
	}
	h, err := s.b.History(ctx, q, s.opts.Now(), 60)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if d.Next, err = s.b.Peek(ctx, q, 10); err != nil {
		s.fail(w, r, err)
		return
	}
	if d.Partitions, err = s.b.Partitions(ctx, q); err != nil {
		s.fail(w, r, err)
		return
	}
	qs, _ := s.b.Queues(ctx)
	d.Pattern = qs[q]
	d.Bars, d.Chart = newFacetChart(d.Facets), newThroughputChart(h)
	s.render(w, r, "queue", q, d)
}

// destroyPage asks the operator to type the queue's name before the queue
// is destroyed (op "destroy", which checks it).
func (s *Server) destroyPage(w http.ResponseWriter, r *http.Request) {
	q := r.PathValue("queue")
	st, err := s.b.Stats(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, "destroy", "Destroy "+q, struct {
		Name  string
		Stats broker.QueueStats
		Held  int64
	}{q, st, held(st)})
}

// held counts the messages a queue holds, in every state.
func held(st broker.QueueStats) int64 { return st.Ready + st.InFlight + st.Delayed + st.Dead }

// destroy destroys queue q once the form's confirm field is its name.
func (s *Server) destroy(ctx context.Context, q string, f url.Values) (string, error) {
	if f.Get("confirm") != q {
		return "", errors.Join(broker.ErrInvalidArgument, fmt.Errorf("type the queue's name %q to confirm; nothing was destroyed", q))
	}
	st, err := s.b.Stats(ctx, q)
	if err != nil {
		return "", err
	}
	if err := s.b.DestroyQueue(ctx, q); err != nil {
		return "", err
	}
	return fmt.Sprintf("Queue %q destroyed, with the %d message(s) it held.", q, held(st)), nil
}

type deadData struct {
	Name        string
	Total       int64
	Letters     []broker.DeadLetter
	Offset      int
	Prev, Next  int
	HasPrev     bool
	HasNext     bool
	First, Last int
}

const deadPageSize = 50

func (s *Server) deadPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.PathValue("queue")
	st, err := s.b.Stats(ctx, q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	off = max(off, 0)
	ds, err := s.b.DeadLetters(ctx, q, off, deadPageSize)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := deadData{
		Name: q, Total: st.Dead, Letters: ds, Offset: off,
		Prev: max(off-deadPageSize, 0), Next: off + deadPageSize,
		HasPrev: off > 0, HasNext: int64(off+deadPageSize) < st.Dead,
		First: off + 1, Last: off + len(ds),
	}
	s.render(w, r, "dead", q+": dead letters", d)
}

// action runs one state-changing operation and redirects back with a
// message.
func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	q := r.PathValue("queue")
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, errors.Join(broker.ErrInvalidArgument, err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	back := "/q/" + url.PathEscape(q)
	msg, err := s.do(ctx, q, r.PostForm)
	switch op := r.PostFormValue("op"); op {
	case "requeue", "purge", "requeue-all", "purge-all":
		back += "/dead"
	case "destroy":
		back = "/"
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, back+"?msg="+url.QueryEscape(msg), http.StatusSeeOther)
}

func (s *Server) do(ctx context.Context, q string, f url.Values) (string, error) {
	facet := f.Get("facet")
	switch f.Get("op") {
	case "pause":
		return "Queue paused.", s.b.PauseQueue(ctx, q)
	case "resume":
		return "Queue resumed.", s.b.ResumeQueue(ctx, q)
	case "pause-facet":
		return "Facet " + strconv.Quote(facet) + " paused.", s.b.PauseFacet(ctx, q, facet)
	case "resume-facet":
		return "Facet " + strconv.Quote(facet) + " resumed.", s.b.ResumeFacet(ctx, q, facet)
	case "priority":
		p, err := strconv.Atoi(f.Get("priority"))
		if err != nil {
			return "", errors.Join(broker.ErrInvalidArgument, errors.New("priority must be a whole number"))
		}
		return "Facet " + strconv.Quote(facet) + " now has priority " + strconv.Itoa(p) + ".", s.b.SetFacetPriority(ctx, q, facet, p)
	case "ratelimit":
		return s.setRateLimit(ctx, q, facet, f.Get("rate"))
	case "limit":
		n, err := strconv.Atoi(f.Get("limit"))
		if err != nil {
			return "", errors.Join(broker.ErrInvalidArgument, errors.New("limit must be a whole number"))
		}
		return "In-flight limit set to " + strconv.Itoa(n) + ".", s.b.SetInflightLimit(ctx, q, n)
	case "facet-limit":
		return s.setFacetLimit(ctx, q, facet, f.Get("limit"))
	case "queue-ratelimit":
		r, err := ratespec.Parse(f.Get("rate"))
		if err != nil || r.Default {
			return "", errors.Join(broker.ErrInvalidArgument, errors.New("the whole queue's rate limit is N/PERIOD[,BURST] or off"), err)
		}
		return "Rate limit of the whole queue set to " + r.Limit.String() + ".", s.b.SetQueueRateLimit(ctx, q, r.Limit)
	case "concurrency":
		n, err := strconv.Atoi(f.Get("concurrency"))
		if err != nil {
			return "", errors.Join(broker.ErrInvalidArgument, errors.New("global concurrency must be a whole number"))
		}
		return "Global concurrency set to " + strconv.Itoa(n) + " (0: no cap).", s.b.SetGlobalConcurrency(ctx, q, n)
	case "backlog-cap", "queue-cap":
		n, err := strconv.Atoi(f.Get("cap"))
		if err != nil {
			return "", errors.Join(broker.ErrInvalidArgument, errors.New("a cap must be a whole number"))
		}
		if f.Get("op") == "queue-cap" {
			return "Cap of the whole queue set to " + strconv.Itoa(n) + " messages (0: no cap).", s.b.SetQueueBacklogLimit(ctx, q, n)
		}
		return "Backlog cap per facet set to " + strconv.Itoa(n) + " ready messages (0: no cap).", s.b.SetBacklogLimit(ctx, q, n)
	case "facet-backlog-cap":
		return s.setFacetBacklogCap(ctx, q, facet, f.Get("cap"))
	case "backlog-drop":
		return "A delivery past a facet's cap now drops the facet's oldest ready messages.", s.b.SetBacklogPolicy(ctx, q, broker.BacklogDropOldest)
	case "backlog-refuse":
		return "A delivery past a facet's cap is now refused.", s.b.SetBacklogPolicy(ctx, q, broker.BacklogRefuse)
	case "order-strict":
		return "Strict order on: one message per facet at a time.", s.b.SetStrictOrder(ctx, q, true)
	case "order-off":
		return "Strict order off.", s.b.SetStrictOrder(ctx, q, false)
	case "attempts":
		n, err := strconv.Atoi(f.Get("attempts"))
		if err != nil {
			return "", errors.Join(broker.ErrInvalidArgument, errors.New("deliveries per message must be a whole number"))
		}
		if n == 0 {
			return "Messages queued from now get the producer's default number of deliveries.", s.b.SetMaxAttempts(ctx, q, 0)
		}
		return "Messages queued from now get " + strconv.Itoa(n) + " deliveries.", s.b.SetMaxAttempts(ctx, q, n)
	case "requeue":
		n, err := s.b.RequeueDead(ctx, q, f["id"]...)
		return strconv.Itoa(n) + " dead letter(s) requeued.", err
	case "purge":
		n, err := s.b.PurgeDead(ctx, q, f["id"]...)
		return strconv.Itoa(n) + " dead letter(s) purged.", err
	case "requeue-all":
		n, err := s.b.RequeueAllDead(ctx, q)
		return strconv.Itoa(n) + " dead letter(s) requeued.", err
	case "purge-all":
		n, err := s.b.PurgeAllDead(ctx, q)
		return strconv.Itoa(n) + " dead letter(s) purged.", err
	case "destroy":
		return s.destroy(ctx, q, f)
	}
	return "", errors.Join(broker.ErrInvalidArgument, errors.New("unknown action "+strconv.Quote(f.Get("op"))))
}

// setRateLimit sets queue's default rate limit, or facet's own when facet
// is given, from text that ratespec.Parse reads.
func (s *Server) setRateLimit(ctx context.Context, q, facet, text string) (string, error) {
	r, err := ratespec.Parse(text)
	if err != nil {
		return "", errors.Join(broker.ErrInvalidArgument, err)
	}
	switch {
	case facet == "" && r.Default:
		return "", errors.Join(broker.ErrInvalidArgument, errors.New("the queue's rate limit cannot be \"default\"; use off to remove it"))
	case facet == "":
		return "Default rate limit set to " + r.Limit.String() + ".", s.b.SetRateLimit(ctx, q, r.Limit)
	case r.Default:
		return "Facet " + strconv.Quote(facet) + " now follows the queue's default rate limit.", s.b.ClearFacetRateLimit(ctx, q, facet)
	}
	return "Facet " + strconv.Quote(facet) + " now has its own rate limit " + r.Limit.String() + ".", s.b.SetFacetRateLimit(ctx, q, facet, r.Limit)
}

// setFacetLimit sets facet's own in-flight limit from text: a number, "off"
// (none, whatever the queue's) or "default" (the queue's applies).
func (s *Server) setFacetLimit(ctx context.Context, q, facet, text string) (string, error) {
	switch text {
	case "default":
		return "Facet " + strconv.Quote(facet) + " now follows the queue's in-flight limit.", s.b.ClearFacetInflightLimit(ctx, q, facet)
	case "off":
		return "Facet " + strconv.Quote(facet) + " has no in-flight limit, whatever the queue's.", s.b.SetFacetInflightLimit(ctx, q, facet, 0)
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		return "", errors.Join(broker.ErrInvalidArgument, errors.New("a facet's in-flight limit is a whole number, off or default"))
	}
	return "Facet " + strconv.Quote(facet) + " now has its own in-flight limit " + strconv.Itoa(n) + ".", s.b.SetFacetInflightLimit(ctx, q, facet, n)
}

// setFacetBacklogCap sets facet's own backlog cap from text, as
// setFacetLimit reads an in-flight limit.
func (s *Server) setFacetBacklogCap(ctx context.Context, q, facet, text string) (string, error) {
	switch text {
	case "default":
		return "Facet " + strconv.Quote(facet) + " now follows the queue's backlog cap.", s.b.ClearFacetBacklogLimit(ctx, q, facet)
	case "off":
		return "Facet " + strconv.Quote(facet) + " has no backlog cap, whatever the queue's.", s.b.SetFacetBacklogLimit(ctx, q, facet, 0)
	}
	n, err := strconv.Atoi(text)
	if err != nil {
		return "", errors.Join(broker.ErrInvalidArgument, errors.New("a facet's backlog cap is a whole number, off or default"))
	}
	return "Facet " + strconv.Quote(facet) + " now has its own backlog cap " + strconv.Itoa(n) + ".", s.b.SetFacetBacklogLimit(ctx, q, facet, n)
}

type schedulesData struct {
	Schedules []scheduler.Info
}

func (s *Server) schedulesPage(w http.ResponseWriter, r *http.Request) {
	all, err := scheduler.List(r.Context(), s.b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, "schedules", "Schedules", schedulesData{Schedules: all})
}

// forgetSchedule removes a schedule's record, as scheduler.Forget does.
func (s *Server) forgetSchedule(w http.ResponseWriter, r *http.Request) {
	name := r.PostFormValue("name")
	ctx := r.Context()
	all, err := scheduler.List(ctx, s.b)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !slices.ContainsFunc(all, func(i scheduler.Info) bool { return i.Name == name }) {
		w.WriteHeader(http.StatusNotFound)
		s.render(w, r, "error", "Error", "no schedule "+strconv.Quote(name)+" is recorded")
		return
	}
	if err := scheduler.Forget(ctx, s.b, name); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/schedules?msg="+url.QueryEscape("Schedule "+strconv.Quote(name)+" forgotten."), http.StatusSeeOther)
}
