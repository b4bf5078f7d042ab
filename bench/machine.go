package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// machine describes where and when the comparison ran, and how busy the
// machine was meanwhile: the load average, and the CPU time that processes
// other than this one and its redis-server used.
type machine struct {
	date                 time.Time
	cpuModel             string
	cores                int
	goVersion            string
	redisVersion         string
	asynqVersion         string
	fairwayCommit        string
	loads                []string  // load averages: at the start, after each round
	roundOthers          []float64 // cores used by other processes, per round
	roundStart           time.Time
	roundBusy            float64
	roundCPU             cpuSample
	start                time.Time
	elapsed              time.Duration
	busy0                float64   // seconds of CPU used by everything (/proc/stat)
	cpu0                 cpuSample // this process and redis-server
	othersCores          float64   // average cores used by other processes
	busyCores, oursCores float64
}

func startMachine(ctx context.Context, rdb *redis.Client) (*machine, error) {
	m := &machine{
		date:          time.Now().UTC(),
		cpuModel:      cpuModel(),
		cores:         runtime.NumCPU(),
		goVersion:     runtime.Version(),
		asynqVersion:  moduleVersion("github.com/hibiken/asynq"),
		fairwayCommit: gitCommit(),
		loads:         []string{loadAverage()},
		start:         time.Now(),
		busy0:         cpuBusySeconds(),
	}
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return nil, err
	}
	m.redisVersion = infoField(info, "redis_version")
	if m.cpu0, err = takeCPU(ctx, rdb); err != nil {
		return nil, err
	}
	m.roundStart, m.roundBusy, m.roundCPU = m.start, m.busy0, m.cpu0
	return m, nil
}

// afterRound records the load average, and the cores that other processes
// used during the round.
func (m *machine) afterRound(ctx context.Context, rdb *redis.Client) error {
	m.loads = append(m.loads, loadAverage())
	now, busy := time.Now(), cpuBusySeconds()
	cpu, err := takeCPU(ctx, rdb)
	if err != nil {
		return err
	}
	secs := now.Sub(m.roundStart).Seconds()
	ours := ((cpu.redis - m.roundCPU.redis) + (cpu.self - m.roundCPU.self)).Seconds()
	m.roundOthers = append(m.roundOthers, max(0, (busy-m.roundBusy-ours)/secs))
	m.roundStart, m.roundBusy, m.roundCPU = now, busy, cpu
	return nil
}

// finish measures the CPU used during the run.
func (m *machine) finish(ctx context.Context, rdb *redis.Client) error {
	m.elapsed = time.Since(m.start)
	cpu1, err := takeCPU(ctx, rdb)
	if err != nil {
		return err
	}
	secs := m.elapsed.Seconds()
	m.busyCores = (cpuBusySeconds() - m.busy0) / secs
	m.oursCores = ((cpu1.redis - m.cpu0.redis) + (cpu1.self - m.cpu0.self)).Seconds() / secs
	m.othersCores = max(0, m.busyCores-m.oursCores)
	return nil
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAverage is the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// cpuBusySeconds is the CPU time every process has used since boot: the
// first line of /proc/stat less idle and iowait, in USER_HZ (100 a second).
func cpuBusySeconds() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy float64
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		// user nice system idle iowait irq softirq steal guest guest_nice;
		// guest time is already in user.
		if i == 3 || i == 4 || i >= 8 {
			continue
		}
		busy += n
	}
	return busy / 100
}

// moduleVersion is the version of module path built into this program.
func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			return d.Version
		}
	}
	return "unknown"
}

// gitCommit is the repository's HEAD, marked when the packages the
// benchmark builds (broker, worker) or the root go.mod have uncommitted
// changes.
func gitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	st, err := exec.Command("git", "status", "--porcelain", "--",
		"../broker", "../worker", "../go.mod", "../go.sum").Output()
	if err == nil && len(st) > 0 {
		commit += " with uncommitted changes to the library"
	}
	return commit
}

// infoField is a field of an INFO reply.
func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == name {
			return v
		}
	}
	return ""
}

// resultsDoc is the results file: the table, then the machine and the run.
func resultsDoc(table string, m *machine, opts compareOptions, e *env) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Fairway and its peers: results of one run\n\n")
	fmt.Fprintf(&b, "Written by `%s` on %s. See BENCHMARKS.md at the repository root for what each row measures.\n\n",
		opts.command, m.date.Format("2006-01-02 15:04 MST"))
	b.WriteString(table)
	s := e.sizes
	fmt.Fprintf(&b, "\n## Machine and run\n\n")
	fmt.Fprintf(&b, "- command: `%s` (what `make bench-compare` runs)\n", opts.command)
	fmt.Fprintf(&b, "- date: %s\n", m.date.Format(time.RFC3339))
	fmt.Fprintf(&b, "- CPU: %s, %d cores (the benchmark process and redis-server share them)\n", m.cpuModel, m.cores)
	fmt.Fprintf(&b, "- Go %s, redis-server %s (private, on loopback, no persistence), asynq %s, Fairway %s\n",
		strings.TrimPrefix(m.goVersion, "go"), m.redisVersion, m.asynqVersion, m.fairwayCommit)
	if e.river != nil {
		fmt.Fprintf(&b, "- River %s (riverpgxv5) on postgres %s (private, on loopback, %s)\n",
			moduleVersion("github.com/riverqueue/river"), e.river.pgVer, strings.Join(riverPGSettings, ", "))
	}
	if e.bullmq != nil {
		fmt.Fprintf(&b, "- BullMQ %s with ioredis %s on node %s\n", bullmqVersion, ioredisVersion, e.bullmq.nodeVersion)
	}
	fmt.Fprintf(&b, "- %d round(s), %s; each figure is the median of the rounds, except latencies and idle rates, computed over all rounds' samples pooled\n",
		opts.rounds, map[bool]string{true: "quick (smoke) sizes", false: "full sizes"}[opts.quick])
	fmt.Fprintf(&b, "- sizes: enqueue %d single, %d batched; e2e %d; pickup %d (Fairway, BullMQ) and %d (asynq, River) per round; memory %d; fairness %d + %d×%d; facets %v, %d pulls each; idle %v per round\n",
		s.enqueueSingle, s.enqueueBatch, s.e2e, s.pickupFairway, s.pickupAsynq, s.memory,
		s.fairBig, s.fairTenants, s.fairEach, s.facetCounts, s.facetPulls, s.idleWindow)
	fmt.Fprintf(&b, "- run time %v; load average (1, 5, 15 min) at the start %s, after each round %s\n",
		m.elapsed.Round(time.Second), m.loads[0], strings.Join(m.loads[1:], "; "))
	others := make([]string, len(m.roundOthers))
	for i, c := range m.roundOthers {
		others[i] = fmt.Sprintf("%.2f", c)
	}
	fmt.Fprintf(&b, "- CPU used meanwhile, in cores on average: %.2f in all, %.2f by the benchmark and its redis-server, %.2f by other processes (by round: %s)\n",
		m.busyCores, m.oursCores, m.othersCores, strings.Join(others, ", "))
	if len(e.notes) > 0 {
		fmt.Fprintf(&b, "\n## Details of each run\n\n")
		for _, n := range e.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}
