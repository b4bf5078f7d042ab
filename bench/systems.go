package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// system is one of the queues the comparison measures. Fairway comes
// first: every ratio in the table is Fairway's figure over another
// system's.
type system int

const (
	fairwaySys system = iota
	asynqSys
	riverSys
	bullmqSys
	ceilingSys
	numSystems
)

// systemNames are the systems' names in the table, in their order.
var systemNames = [numSystems]string{"Fairway", "asynq", "River", "BullMQ", "ceiling"}

func (s system) String() string { return systemNames[s] }

// flagName is the system's name in -systems: its name in lower case.
func (s system) flagName() string { return strings.ToLower(systemNames[s]) }

// allSystems is every system, in the table's order.
func allSystems() []system {
	out := make([]system, numSystems)
	for i := range out {
		out[i] = system(i)
	}
	return out
}

// parseSystems returns the systems named in a comma-separated list, in the
// table's order whatever the list's, or all of them for "".
func parseSystems(names string) ([]system, error) {
	if strings.TrimSpace(names) == "" {
		return allSystems(), nil
	}
	seen := make(map[system]bool)
	for name := range strings.SplitSeq(names, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		i := slices.IndexFunc(allSystems(), func(s system) bool { return s.flagName() == name })
		if i < 0 {
			var known []string
			for _, s := range allSystems() {
				known = append(known, s.flagName())
			}
			return nil, fmt.Errorf("unknown system %q (known: %s)", name, strings.Join(known, ","))
		}
		seen[system(i)] = true
	}
	var out []system
	for _, s := range allSystems() {
		if seen[s] {
			out = append(out, s)
		}
	}
	return out, nil
}

// rotated is systems rotated left by round: each round of the comparison
// starts with the next system, so that no system always runs on a server
// the previous one just warmed or loaded.
func rotated(systems []system, round int) []system {
	if len(systems) == 0 {
		return nil
	}
	k := round % len(systems)
	return append(slices.Clone(systems[k:]), systems[:k]...)
}

// measures holds, per system, how a comparison measures it once; nil where
// the system has nothing to compare (the table says n/a).
type measures [numSystems]measureFunc

// peer is a system that needs more than the benchmark's redis-server: a
// runtime to find and set up before the rounds (postgres, node), and to
// take down after them. prepare returns the reason to skip the system if
// it cannot be set up; the run goes on without it.
type peer struct {
	sys     system
	prepare func(ctx context.Context, e *env) (cleanup func(), err error)
}

// peers are the systems with a runtime of their own.
func peers() []peer {
	return []peer{
		{riverSys, prepareRiver},
		{bullmqSys, prepareBullMQ},
	}
}

// preparePeers sets up every selected peer, and returns the cleanup of
// those that are ready and the reason each other one is skipped. A peer
// that cannot be set up is never an error of the run: it is reported on
// one line and its figures are n/a.
func preparePeers(ctx context.Context, e *env, selected []system, all []peer) (cleanup func(), skipped map[system]string) {
	skipped = make(map[system]string)
	var cleanups []func()
	for _, p := range all {
		if !slices.Contains(selected, p.sys) {
			continue
		}
		e.printf("%s: setting up...\n", p.sys.flagName())
		c, err := p.prepare(ctx, e)
		if err != nil {
			skipped[p.sys] = err.Error()
			e.printf("%s: skipped (%v)\n", p.sys.flagName(), err)
			continue
		}
		cleanups = append(cleanups, c)
	}
	return func() {
		for _, c := range slices.Backward(cleanups) {
			c()
		}
	}, skipped
}
