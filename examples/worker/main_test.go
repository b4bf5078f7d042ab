package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fairwayhq/fairway/broker"
	"github.com/fairwayhq/fairway/internal/testutil"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestProcess runs the built binary against a private redis-server and
// stops it the ways a supervisor does.
func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the worker binary")
	}
	bin := buildWorker(t)
	t.Run("SIGTERM drains", func(t *testing.T) { testSIGTERM(t, bin) })
	t.Run("SIGKILL loses nothing", func(t *testing.T) { testSIGKILL(t, bin) })
	t.Run("shutdown timeout hands work back", func(t *testing.T) { testShutdownTimeout(t, bin) })
	t.Run("registers only what it is told", func(t *testing.T) { testRegistration(t, bin) })
	t.Run("registers a lost queue again", func(t *testing.T) { testLostRegistry(t, bin) })
}

// testRegistration runs workers on queues an operator registered: left at
// the default pattern a worker keeps the operator's pattern and registers
// only a queue that does not exist; told another pattern it exits 1 naming
// both; serving a missing queue it may not register, it exits 1 naming it.
func testRegistration(t *testing.T, bin string) {
	h := newHarness(t, 0)
	ctx := t.Context()
	if err := h.b.RegisterQueue(ctx, "reports", `^report\.`); err != nil {
		t.Fatal(err)
	}
	env := h.env(map[string]string{"FAIRWAY_QUEUES": "reports,fresh"})
	p := startProcess(t, bin, env)
	testutil.Eventually(t, 20*time.Second, func() bool {
		return httpStatus("http://"+p.healthAddr(t)+"/readyz") == http.StatusOK
	}, "/readyz answers 200")
	qs, err := h.b.Queues(ctx)
	if err != nil || qs["reports"] != `^report\.` || qs["fresh"] != `^fresh(\.|$)` {
		t.Fatalf("Queues = %v, %v: want reports kept, fresh registered with the default", qs, err)
	}
	if err := h.b.DeliverBytes(ctx, "report.monthly", "acme", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool { return h.recorded(t) == 1 }, "report.monthly handled")
	p.stop(t)

	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"another route":   {map[string]string{"FAIRWAY_QUEUES": "reports", "FAIRWAY_ROUTES": `reports=^reports(\.|$)`}, "has pattern `^report\\.`, not `^reports(\\.|$)`"},
		"another pattern": {map[string]string{"FAIRWAY_QUEUES": "reports", "FAIRWAY_PATTERN": "^{queue}$"}, "has pattern `^report\\.`, not `^reports$`"},
		"missing queue":   {map[string]string{"FAIRWAY_QUEUES": "gone", "FAIRWAY_PATTERN": "-"}, `queue "gone" is not registered`},
	} {
		p := startProcess(t, bin, h.env(tc.env))
		if code := p.wait(t, 20*time.Second); code != 1 {
			t.Fatalf("%s: exit code %d, want 1", name, code)
		}
		if got := p.logField("fairway worker failed", "err"); !strings.Contains(got, tc.want) {
			t.Errorf("%s: the worker failed with %q, want it to say %s", name, got, tc.want)
		}
	}
	if qs, err := h.b.Queues(ctx); err != nil || qs["reports"] != `^report\.` || qs["gone"] != "" {
		t.Fatalf("Queues = %v, %v after the refused starts: want them unchanged", qs, err)
	}
}

// testLostRegistry restarts Redis empty under a worker told its queue's
// pattern: it registers the queue again and handles what is delivered
// after the restart.
func testLostRegistry(t *testing.T, bin string) {
	h := newHarness(t, 10)
	p := startProcess(t, bin, h.env(map[string]string{"FAIRWAY_ROUTES": `jobs=^jobs(\.|$)`}))
	h.waitAllDone(t)
	if err := h.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		qs, err := h.b.Queues(t.Context())
		return err == nil && qs[queue] != ""
	}, "the worker registered %s again", queue)
	ds := make([]broker.Delivery, 10)
	for i := range ds {
		ds[i] = broker.Delivery{Topic: queue, Facet: "tenant", Body: fmt.Appendf(nil, `{"after":%d}`, i)}
	}
	if err := h.b.DeliverBatch(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() bool { return h.recorded(t) == 10 }, "the 10 messages delivered after the restart handled")
	p.stop(t)
	if n := p.logCount("fairway: served queue was missing (Redis lost its registry?); registered it again"); n != 1 {
		t.Errorf("%d log lines say the queue was registered again, want 1", n)
	}
}

// testSIGTERM stops a worker mid-load with SIGTERM: it must exit 0 within
// its shutdown timeout with nothing left leased, and a second worker must
// finish the rest with no message handled twice.
func testSIGTERM(t *testing.T, bin string) {
	const n, shutdownTimeout = 400, 10 * time.Second
	h := newHarness(t, n)
	env := h.env(map[string]string{
		"FAIRWAY_CONCURRENCY": "10", "FAIRWAY_WORK_TIME": "20ms",
		"FAIRWAY_SHUTDOWN_TIMEOUT": shutdownTimeout.String(),
	})
	first := startProcess(t, bin, env)
	ready := "http://" + first.healthAddr(t) + "/readyz"
	testutil.Eventually(t, 20*time.Second, func() bool { return httpStatus(ready) == http.StatusOK },
		"/readyz answers 200 while the worker runs")
	testutil.Eventually(t, 20*time.Second, func() bool { return h.recorded(t) >= 20 }, "20 messages handled")

	start := time.Now()
	first.signal(t, syscall.SIGTERM)
	if code := first.wait(t, shutdownTimeout+10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if took := time.Since(start); took > shutdownTimeout {
		t.Errorf("exit %v after SIGTERM, over the shutdown timeout %v", took, shutdownTimeout)
	}
	st, done := h.stats(t), h.recorded(t)
	t.Logf("after SIGTERM: %d handled, %+v", done, st)
	if st.InFlight != 0 || st.Delayed != 0 || st.Dead != 0 {
		t.Fatalf("after a graceful stop, stats %+v: want nothing leased, delayed or dead", st)
	}
	if st.Ready == 0 {
		t.Fatalf("all %d messages were done before SIGTERM landed: nothing was left to drain", n)
	}
	if done+st.Ready != n {
		t.Fatalf("%d handled + %d ready != %d delivered", done, st.Ready, n)
	}

	second := startProcess(t, bin, env)
	h.waitAllDone(t)
	second.stop(t)
	if dups := h.duplicates(t); dups != 0 {
		t.Errorf("%d messages handled twice; a graceful stop must hand none back half-done", dups)
	}
}

// testSIGKILL kills a worker while messages are leased: a second worker must
// get them back when their leases expire, so that every message is handled,
// at most the killed worker's in-flight ones twice.
func testSIGKILL(t *testing.T, bin string) {
	const n = 400
	h := newHarness(t, n)
	env := h.env(map[string]string{
		"FAIRWAY_CONCURRENCY": "10", "FAIRWAY_WORK_TIME": "50ms", "FAIRWAY_LEASE": "1s",
	})
	first := startProcess(t, bin, env)
	testutil.Eventually(t, 20*time.Second, func() bool { return h.recorded(t) >= 20 }, "20 messages handled")
	first.signal(t, syscall.SIGKILL)
	if code := first.wait(t, 10*time.Second); code != -1 {
		t.Fatalf("exit code %d after SIGKILL, want -1 (killed)", code)
	}
	// Nothing pulls while no worker runs, so the leases of the killed worker
	// are still counted, expired or not.
	st := h.stats(t)
	t.Logf("after SIGKILL: %d handled, %+v", h.recorded(t), st)
	if st.InFlight == 0 || st.Ready == 0 {
		t.Fatalf("stats %+v after SIGKILL: want messages both leased and ready", st)
	}

	second := startProcess(t, bin, env)
	h.waitAllDone(t)
	second.stop(t)
	dups := h.duplicates(t)
	t.Logf("handled twice: %d of the %d in flight at the kill", dups, st.InFlight)
	if dups > st.InFlight {
		t.Errorf("%d messages handled twice; only the %d in flight at the kill may be", dups, st.InFlight)
	}
	if st := h.stats(t); st.Dead != 0 {
		t.Errorf("%d dead letters", st.Dead)
	}
}

// testShutdownTimeout stops a worker whose handlers outlast the shutdown
// timeout: their contexts are canceled, their messages go back to the queue
// with the attempt not counted, and the worker exits 1 to say so.
func testShutdownTimeout(t *testing.T, bin string) {
	const n, shutdownTimeout = 20, 300 * time.Millisecond
	h := newHarness(t, n)
	env := h.env(map[string]string{
		"FAIRWAY_CONCURRENCY": "5", "FAIRWAY_WORK_TIME": "1h",
		"FAIRWAY_SHUTDOWN_TIMEOUT": shutdownTimeout.String(),
	})
	p := startProcess(t, bin, env)
	testutil.Eventually(t, 20*time.Second, func() bool { return h.stats(t).InFlight == 5 }, "5 messages in flight")
	start := time.Now()
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 20*time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1: handlers were canceled", code)
	}
	if took := time.Since(start); took > shutdownTimeout+5*time.Second {
		t.Errorf("exit %v after SIGTERM; the handlers honor their context", took)
	}
	if st := h.stats(t); st.Ready != n || st.InFlight != 0 || st.Delayed != 0 || st.Dead != 0 {
		t.Errorf("stats %+v: want all %d messages ready again", st, n)
	}
	if got := h.recorded(t); got != 0 {
		t.Errorf("%d messages recorded as handled", got)
	}
	ms, err := h.b.PullN(context.Background(), queue, n)
	if err != nil || len(ms) != n {
		t.Fatalf("pull after the stop: %d messages, %v", len(ms), err)
	}
	for _, m := range ms {
		if m.Attempt != 1 {
			t.Errorf("%v: the canceled attempt counted", m)
		}
	}
	if msg := p.logField("fairway worker failed", "err"); !strings.Contains(msg, "ShutdownTimeout") {
		t.Errorf("the last log line's error is %q, want the shutdown timeout's", msg)
	}
}

// harness is one test's redis-server, namespace and delivered messages.
type harness struct {
	srv       *testutil.Server
	rdb       *redis.Client
	b         *broker.Broker
	ns, key   string
	delivered int64
}

// queue is the queue the tests serve.
const queue = "jobs"

// newHarness starts a redis-server and delivers n messages to queue, spread
// over many facets.
func newHarness(t *testing.T, n int) *harness {
	t.Helper()
	srv := testutil.StartServerT(t)
	rdb := srv.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	ns := testutil.Namespace(t)
	b, err := broker.New(rdb, broker.Config{Namespace: ns, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.RegisterQueue(ctx, queue, `^jobs(\.|$)`); err != nil {
		t.Fatal(err)
	}
	ds := make([]broker.Delivery, n)
	for i := range ds {
		ds[i] = broker.Delivery{Topic: queue, Facet: "tenant-" + strconv.Itoa(i%37), Body: fmt.Appendf(nil, `{"n":%d}`, i)}
	}
	if err := b.DeliverBatch(ctx, ds); err != nil {
		t.Fatal(err)
	}
	return &harness{srv: srv, rdb: rdb, b: b, ns: ns, key: ns + ":recorded", delivered: int64(n)}
}

// env is the workers' environment: the harness's settings, then extra.
func (h *harness) env(extra map[string]string) []string {
	env := []string{
		"REDIS_URL=redis://" + h.srv.Addr() + "/0",
		"FAIRWAY_NAMESPACE=" + h.ns,
		"FAIRWAY_QUEUES=" + queue,
		"FAIRWAY_RECORD_KEY=" + h.key,
		"FAIRWAY_HEALTH_ADDR=127.0.0.1:0",
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// recorded is how many distinct messages the workers handled.
func (h *harness) recorded(t *testing.T) int64 {
	t.Helper()
	n, err := h.rdb.HLen(context.Background(), h.key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// duplicates is how many extra times messages were handled.
func (h *harness) duplicates(t *testing.T) int64 {
	t.Helper()
	counts, err := h.rdb.HGetAll(context.Background(), h.key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var dups int64
	for id, c := range counts {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 1 {
			t.Fatalf("count of %s is %q", id, c)
		}
		dups += n - 1
	}
	return dups
}

func (h *harness) stats(t *testing.T) broker.QueueStats {
	t.Helper()
	st, err := h.b.Stats(context.Background(), queue)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitAllDone waits until every delivered message was handled and acked.
func (h *harness) waitAllDone(t *testing.T) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, func() bool {
		st := h.stats(t)
		return h.recorded(t) == h.delivered && st == broker.QueueStats{Routed: true}
	}, "all %d messages handled and acked", h.delivered)
	if st := h.stats(t); st.Ready+st.InFlight+st.Delayed+st.Dead != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// process is one run of the worker binary, its output in a file.
type process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has been reaped
}

func startProcess(t *testing.T, bin string, env []string) *process {
	t.Helper()
	logFile, err := os.CreateTemp(t.TempDir(), "worker-*.log")
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(bin), logPath: logFile.Name(), done: make(chan struct{})}
	p.cmd.Env = env
	// A file, not a pipe: the child writes it directly, with no copying
	// goroutine to outlive the test.
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	err = p.cmd.Start()
	_ = logFile.Close()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			out, _ := os.ReadFile(p.logPath)
			t.Logf("worker %d log:\n%s", p.cmd.Process.Pid, tail(out, 40))
		}
	})
	return p
}

func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code, -1 when a
// signal ended it.
func (p *process) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("worker %d still running %v later", p.cmd.Process.Pid, timeout)
		return 0
	}
}

// stop sends SIGTERM and checks for a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

// healthAddr is the address the worker's health endpoint listens on, read
// from its log.
func (p *process) healthAddr(t *testing.T) string {
	t.Helper()
	var addr string
	testutil.Eventually(t, 20*time.Second, func() bool {
		addr = p.logField("health endpoint listening", "addr")
		return addr != ""
	}, "the worker logs its health address")
	return addr
}

// logField returns field of the first JSON log line whose message is msg.
func (p *process) logField(msg, field string) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
			s, _ := line[field].(string)
			return s
		}
	}
	return ""
}

// logCount is how many JSON log lines have message msg.
func (p *process) logCount(msg string) int {
	out, err := os.ReadFile(p.logPath)
	if err != nil {
		return 0
	}
	n := 0
	for line := range bytes.SplitSeq(out, []byte("\n")) {
		var l map[string]any
		if json.Unmarshal(line, &l) == nil && l["msg"] == msg {
			n++
		}
	}
	return n
}

// buildWorker builds the binary once for the tests of this run.
func buildWorker(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to build the worker: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "fairway-worker")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// httpStatus is the status of a GET of url, or 0 when it fails.
func httpStatus(url string) int {
	// No keep-alive: no connection, and no goroutine, outlives the call.
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// tail is the last n lines of out.
func tail(out []byte, n int) []byte {
	lines := bytes.SplitAfter(out, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, nil)
}
