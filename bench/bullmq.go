package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BullMQ, the Node job queue on Redis, runs in the comparison through a
// driver script of our own (bullmq/driver.mjs) that the benchmark starts
// as a subprocess per scenario, on the benchmark's redis-server. The
// package is installed from the npm registry into a temporary directory at
// the start of the run, at the versions pinned here.
const (
	bullmqVersion  = "6.7.6"
	ioredisVersion = "6.1.0" // BullMQ's Redis client, a peer dependency
	// bullmqInstallLimit bounds npm install.
	bullmqInstallLimit = 5 * time.Minute
)

//go:embed bullmq/driver.mjs
var bullmqDriver []byte

// bullmqPeer is the directory where bullmq is installed with the driver.
type bullmqPeer struct {
	dir         string
	node        string
	nodeVersion string
}

// prepareBullMQ finds node and npm, installs bullmq into a temporary
// directory and writes the driver beside it.
func prepareBullMQ(ctx context.Context, e *env) (func(), error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("node not found on PATH")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, errors.New("npm not found on PATH")
	}
	dir, err := os.MkdirTemp("", "fairway-bench-bullmq-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private": true, "type": "module"}`+"\n"), 0o644); err != nil {
		cleanup()
		return nil, err
	}
	ictx, cancel := context.WithTimeout(ctx, bullmqInstallLimit)
	defer cancel()
	cmd := exec.CommandContext(ictx, npm, "install", "--no-audit", "--no-fund", "--silent",
		"bullmq@"+bullmqVersion, "ioredis@"+ioredisVersion)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return nil, fmt.Errorf("npm install bullmq@%s failed: %w: %s", bullmqVersion, err, lastLine(out))
	}
	if err := os.WriteFile(filepath.Join(dir, "driver.mjs"), bullmqDriver, 0o644); err != nil {
		cleanup()
		return nil, err
	}
	version, _ := exec.CommandContext(ctx, node, "--version").Output()
	e.bullmq = &bullmqPeer{dir: dir, node: node, nodeVersion: strings.TrimSpace(string(version))}
	e.printf("bullmq: installed bullmq %s with ioredis %s in %s\n", bullmqVersion, ioredisVersion, dir)
	return cleanup, nil
}

// lastLine is the last non-empty line of out, for an error message.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// bullmqRun is one run of the driver.
type bullmqRun struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *strings.Builder
}

// bullmqStart starts the driver on scenario with n and the options.
func bullmqStart(ctx context.Context, e *env, scenario string, n int, opts ...string) (*bullmqRun, error) {
	if e.bullmq == nil {
		return nil, errors.New("bullmq is not set up")
	}
	args := append([]string{"driver.mjs", "redis://" + e.srv.addr, scenario, strconv.Itoa(n)}, opts...)
	cmd := exec.CommandContext(ctx, e.bullmq.node, args...)
	cmd.Dir = e.bullmq.dir
	r := &bullmqRun{cmd: cmd, stderr: new(strings.Builder)}
	cmd.Stderr = r.stderr
	var err error
	if r.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	r.lines = bufio.NewScanner(out)
	r.lines.Buffer(make([]byte, 1<<20), 64<<20)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return r, nil
}

// next decodes the driver's next line into v.
func (r *bullmqRun) next(v any) error {
	if !r.lines.Scan() {
		err := r.cmd.Wait()
		return fmt.Errorf("bullmq driver ended (%w): %s", err, lastLine([]byte(r.stderr.String())))
	}
	return json.Unmarshal(r.lines.Bytes(), v)
}

// resume lets the driver go on after a phase.
func (r *bullmqRun) resume() error {
	_, err := io.WriteString(r.stdin, "go\n")
	return err
}

// wait waits for the driver to exit.
func (r *bullmqRun) wait() error {
	_ = r.stdin.Close()
	if err := r.cmd.Wait(); err != nil {
		return fmt.Errorf("bullmq driver: %w: %s", err, lastLine([]byte(r.stderr.String())))
	}
	return nil
}

// bullmqPhase is a line with which the driver reports where it is.
type bullmqPhase struct {
	Phase          string  `json:"phase"`
	EnqueueSeconds float64 `json:"enqueueSeconds"`
}

// bullmqResult is the driver's last line; each scenario fills its part.
type bullmqResult struct {
	Seconds        float64   `json:"seconds"`
	ProcessSeconds float64   `json:"processSeconds"`
	Left           int64     `json:"left"`
	Queued         int64     `json:"queued"`
	Lat            []float64 `json:"lat"`
	Small          []float64 `json:"small"`
}

// bullmqWaiting is how many jobs wait in queue: BullMQ's "wait" list.
func bullmqWaiting(e *env, queue string) func(context.Context) (int64, error) {
	return func(ctx context.Context) (int64, error) {
		rdb := e.srv.client()
		defer func() { _ = rdb.Close() }()
		return rdb.LLen(ctx, "bull:"+queue+":wait").Result()
	}
}

// bullmqMeasure is BullMQ's measureFunc for one scenario of the
// comparison; n gives the scenario's size.
func bullmqMeasure(scenario string, n func(*env) int) measureFunc {
	return func(ctx context.Context, e *env) (measurement, error) {
		switch scenario {
		case "enqueue":
			return bullmqEnqueue(ctx, e, scenario, n(e), "g="+strconv.Itoa(enqueueGoroutines))
		case "batch":
			return bullmqEnqueue(ctx, e, scenario, n(e), "g="+strconv.Itoa(enqueueBatchGoroutines), "batch="+strconv.Itoa(enqueueBatchSize))
		case "e2e":
			return bullmqE2E(ctx, e, n(e))
		case "pickup":
			return bullmqPickup(ctx, e, n(e))
		case "fairness":
			return bullmqFairness(ctx, e)
		case "idle":
			return bullmqIdle(ctx, e)
		}
		return nil, fmt.Errorf("bullmq has no scenario %q", scenario)
	}
}

// bullmqEnqueue: single adds from g loops, or addBulk(batch) from g loops.
func bullmqEnqueue(ctx context.Context, e *env, scenario string, n int, opts ...string) (measurement, error) {
	r, err := bullmqStart(ctx, e, scenario, n, opts...)
	if err != nil {
		return nil, err
	}
	var ph bullmqPhase
	if err := r.next(&ph); err != nil {
		return nil, err
	}
	if scenario == "batch" {
		n = n / enqueueBatchSize * enqueueBatchSize
	}
	m, err := enqueued(ctx, e, n, bullmqWaiting(e, scenario), func() (time.Duration, error) {
		if err := r.resume(); err != nil {
			return 0, err
		}
		var res bullmqResult
		if err := r.next(&res); err != nil {
			return 0, err
		}
		return time.Duration(res.Seconds * float64(time.Second)), nil
	})
	if err != nil {
		_ = r.cmd.Process.Kill()
		_ = r.wait()
		return nil, err
	}
	return m, r.wait()
}

// bullmqE2E: addBulk(e2eBatch) of n, then a worker of e2eConcurrency; the
// usage is measured around the processing only.
func bullmqE2E(ctx context.Context, e *env, n int) (measurement, error) {
	r, err := bullmqStart(ctx, e, "e2e", n, "batch="+strconv.Itoa(e2eBatch), "concurrency="+strconv.Itoa(e2eConcurrency))
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.cmd.Process.Kill() }()
	var ph bullmqPhase
	if err := r.next(&ph); err != nil {
		return nil, err
	}
	u, err := startUsage(ctx, e)
	if err != nil {
		return nil, err
	}
	if err := r.resume(); err != nil {
		return nil, err
	}
	var res bullmqResult
	if err := r.next(&res); err != nil {
		return nil, err
	}
	usage, err := u.stop(ctx, n)
	if err != nil {
		return nil, err
	}
	if err := r.wait(); err != nil {
		return nil, err
	}
	if res.Left != 0 {
		return nil, fmt.Errorf("%d jobs left after the run", res.Left)
	}
	enqueue := time.Duration(ph.EnqueueSeconds * float64(time.Second))
	process := time.Duration(res.ProcessSeconds * float64(time.Second))
	e.note("enqueued %d in %v, processed them in %v (as timed by the driver); while processing, %s",
		n, enqueue.Round(time.Millisecond), process.Round(time.Millisecond), usage)
	return measurement{
		"process": {float64(n) / process.Seconds()},
		"enqueue": {float64(n) / enqueue.Seconds()},
		"overall": {float64(n) / (enqueue + process).Seconds()},
		"cmds":    {u.cmdsPerMsg},
		"redisus": {u.mainMicrosPerMsg},
	}, nil
}

// bullmqPickup: the driver measures, from add() to the processor's start.
func bullmqPickup(ctx context.Context, e *env, n int) (measurement, error) {
	r, err := bullmqStart(ctx, e, "pickup", n,
		"idle="+strconv.FormatInt(e.sizes.pickupIdle.Milliseconds(), 10), "concurrency="+strconv.Itoa(pickupConcurrency))
	if err != nil {
		return nil, err
	}
	var res bullmqResult
	if err := r.next(&res); err != nil {
		return nil, err
	}
	if err := r.wait(); err != nil {
		return nil, err
	}
	if len(res.Lat) != n {
		return nil, fmt.Errorf("%d pickups measured, want %d", len(res.Lat), n)
	}
	s := slices.Sorted(slices.Values(res.Lat))
	e.note("%d pickups: p50 %s ms, p99 %s ms, max %s ms", len(s), human(percentile(s, 0.5)), human(percentile(s, 0.99)), human(s[len(s)-1]))
	return measurement{"lat": res.Lat}, nil
}

// bullmqFairness: the driver queues the big tenant's jobs, then the small
// tenants', on one queue (FIFO), and reports the small ones' positions.
func bullmqFairness(ctx context.Context, e *env) (measurement, error) {
	s := e.sizes
	r, err := bullmqStart(ctx, e, "fairness", s.fairBig, "tenants="+strconv.Itoa(s.fairTenants),
		"each="+strconv.Itoa(s.fairEach), "concurrency="+strconv.Itoa(fairConcurrency))
	if err != nil {
		return nil, err
	}
	var res bullmqResult
	if err := r.next(&res); err != nil {
		return nil, err
	}
	if err := r.wait(); err != nil {
		return nil, err
	}
	p := newPositions(s)
	p.small = res.Small
	return p.measurement(e)
}

// bullmqIdle: a worker of 10 idles while watchIdle watches the server.
func bullmqIdle(ctx context.Context, e *env) (measurement, error) {
	r, err := bullmqStart(ctx, e, "idle", 0, "concurrency=10")
	if err != nil {
		return nil, err
	}
	var ph bullmqPhase
	if err := r.next(&ph); err != nil {
		return nil, err
	}
	return idleMeasurement(ctx, e, func() error {
		if err := r.resume(); err != nil {
			return err
		}
		var res bullmqResult
		if err := r.next(&res); err != nil {
			return err
		}
		return r.wait()
	})
}

// bullmqMemory: the driver queues the messages with addBulk(e2eBatch).
func bullmqMemory(ctx context.Context, e *env) (measurement, error) {
	return measureMemory(ctx, e, e.sizes.memory, explainBullMQMemory, func(n int) (int64, error) {
		r, err := bullmqStart(ctx, e, "fill", n, "batch="+strconv.Itoa(e2eBatch))
		if err != nil {
			return 0, err
		}
		var res bullmqResult
		if err := r.next(&res); err != nil {
			return 0, err
		}
		return res.Queued, r.wait()
	})
}
