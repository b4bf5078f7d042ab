package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// cpuSample is the CPU time used so far by redis-server and by this process,
// to tell which side a throughput number is bound by.
type cpuSample struct {
	redis, self time.Duration
	// redisMain is the CPU time of redis-server's main thread, the one
	// that runs commands (used_cpu_*_main_thread).
	redisMain time.Duration
}

func takeCPU(ctx context.Context, rdb *redis.Client) (cpuSample, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return cpuSample{}, err
	}
	var s cpuSample
	for line := range strings.SplitSeq(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		sec, _ := strconv.ParseFloat(v, 64)
		switch k {
		case "used_cpu_user", "used_cpu_sys":
			s.redis += time.Duration(sec * float64(time.Second))
		case "used_cpu_user_main_thread", "used_cpu_sys_main_thread":
			s.redisMain += time.Duration(sec * float64(time.Second))
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuSample{}, err
	}
	s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return s, nil
}

func (s cpuSample) sub(o cpuSample) string {
	return fmt.Sprintf("redis-server %v, bench process %v",
		(s.redis - o.redis).Round(time.Millisecond), (s.self - o.self).Round(time.Millisecond))
}

// usage measures what Redis and this process do during a part of a run:
// CPU time, commands (INFO commandstats), how long Redis takes to answer a
// PING sent every pingEvery on a connection of its own (what redis-cli
// --latency measures), and the calls that took Redis over slowlogMicros
// (SLOWLOG).
type usage struct {
	probe    *redis.Client
	cpu      cpuSample
	calls    map[string]int64
	usec     map[string]int64
	stopPing func() []time.Duration
	// Set by stop: Redis commands (scripts' inner calls included) and
	// microseconds of Redis's main thread, per message.
	cmdsPerMsg, mainMicrosPerMsg float64
}

const pingEvery = 10 * time.Millisecond

// startUsage starts measuring, on connections of its own.
func startUsage(ctx context.Context, e *env) (*usage, error) {
	u := &usage{probe: e.srv.client()}
	var err error
	if u.cpu, err = takeCPU(ctx, u.probe); err != nil {
		_ = u.probe.Close()
		return nil, err
	}
	if u.calls, u.usec, err = commandTimes(ctx, u.probe); err != nil {
		_ = u.probe.Close()
		return nil, err
	}
	if err := u.probe.SlowLogReset(ctx).Err(); err != nil {
		_ = u.probe.Close()
		return nil, err
	}
	u.stopPing = pinger(e)
	return u, nil
}

// pinger PINGs the server every pingEvery on a connection of its own until
// the returned func is called, which returns the round trips.
func pinger(e *env) func() []time.Duration {
	rdb := e.srv.clientPool(1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []time.Duration)
	go func() {
		defer func() { _ = rdb.Close() }()
		var rtts []time.Duration
		t := time.NewTicker(pingEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- rtts
				return
			case <-t.C:
			}
			start := time.Now()
			if rdb.Ping(ctx).Err() == nil {
				rtts = append(rtts, time.Since(start))
			}
		}
	}()
	return func() []time.Duration {
		cancel()
		return <-done
	}
}

// stop ends the measurement and describes it per message, for n messages:
// the CPU time of redis-server and of this process, the time Redis spent in
// scripts, the commands Redis ran (scripts' inner calls included), PING
// round trips meanwhile, and the slow calls.
func (u *usage) stop(ctx context.Context, n int) (string, error) {
	defer func() { _ = u.probe.Close() }()
	rtts := u.stopPing()
	cpu, err := takeCPU(ctx, u.probe)
	if err != nil {
		return "", err
	}
	calls, usec, err := commandTimes(ctx, u.probe)
	if err != nil {
		return "", err
	}
	slow, err := u.probe.SlowLogGet(ctx, -1).Result()
	if err != nil {
		return "", err
	}
	dc, du := diff(calls, u.calls), diff(usec, u.usec)
	maps.DeleteFunc(dc, func(name string, _ int64) bool { // the measurement's own
		return name == "info" || name == "ping" || strings.HasPrefix(name, "slowlog")
	})
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	u.cmdsPerMsg = float64(total(dc)) / float64(n)
	u.mainMicrosPerMsg = per(cpu.redisMain - u.cpu.redisMain)
	return fmt.Sprintf("per message: redis-server CPU %.1f µs, bench process CPU %.1f µs, Redis time in scripts %.1f µs; "+
		"Redis ran %.1f commands, scripts' inner calls included (%s); %s; %s",
		per(cpu.redis-u.cpu.redis), per(cpu.self-u.cpu.self), float64(du["eval"]+du["evalsha"])/float64(n),
		float64(total(dc))/float64(n), describe(dc), describePings(rtts), describeSlowlog(slow)), nil
}

// describePings summarizes PING round trips.
func describePings(rtts []time.Duration) string {
	if len(rtts) == 0 {
		return "no PING answered"
	}
	slices.Sort(rtts)
	return fmt.Sprintf("PING every %v meanwhile: p50 %.2f ms, p99 %.2f ms, max %.2f ms",
		pingEvery, ms(percentile(rtts, 0.5)), ms(percentile(rtts, 0.99)), ms(rtts[len(rtts)-1]))
}

// describeSlowlog summarizes the calls that took Redis over slowlogMicros,
// by command (for scripts, by SHA prefix).
func describeSlowlog(slow []redis.SlowLog) string {
	slow = slices.DeleteFunc(slices.Clone(slow), func(s redis.SlowLog) bool {
		return len(s.Args) > 0 && strings.EqualFold(s.Args[0], "slowlog") // the measurement's own
	})
	if len(slow) == 0 {
		return fmt.Sprintf("no call over %d µs (SLOWLOG)", slowlogMicros)
	}
	type agg struct {
		n        int
		longest  time.Duration
		sumTotal time.Duration
	}
	by := make(map[string]*agg)
	for _, s := range slow {
		name := "?"
		if len(s.Args) > 0 {
			name = strings.ToLower(s.Args[0])
			if (name == "evalsha" || name == "eval") && len(s.Args) > 1 {
				name += " " + s.Args[1][:min(8, len(s.Args[1]))]
			}
		}
		a := by[name]
		if a == nil {
			a = &agg{}
			by[name] = a
		}
		a.n++
		a.longest = max(a.longest, s.Duration)
		a.sumTotal += s.Duration
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(by)) {
		a := by[name]
		parts = append(parts, fmt.Sprintf("%s ×%d, mean %.1f ms, longest %.1f ms", name, a.n,
			ms(a.sumTotal)/float64(a.n), ms(a.longest)))
	}
	return fmt.Sprintf("calls over %d µs (SLOWLOG): %s", slowlogMicros, strings.Join(parts, "; "))
}

// commandTimes is the calls and microseconds of each command, from INFO
// commandstats.
func commandTimes(ctx context.Context, rdb *redis.Client) (calls, usec map[string]int64, err error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, nil, err
	}
	calls, usec = make(map[string]int64), make(map[string]int64)
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		name = strings.TrimPrefix(name, "cmdstat_")
		for field := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(field, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				calls[name] = n
			case "usec":
				usec[name] = n
			}
		}
	}
	return calls, usec, nil
}
