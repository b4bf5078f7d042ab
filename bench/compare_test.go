package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseSystems(t *testing.T) {
	t.Parallel()
	all, err := parseSystems("")
	if err != nil || !slices.Equal(all, allSystems()) {
		t.Fatalf(`parseSystems("") = %v, %v; want every system`, all, err)
	}
	// The table's order, whatever the list's; names in any case.
	got, err := parseSystems("Ceiling, fairway,asynq")
	if err != nil {
		t.Fatal(err)
	}
	if want := []system{fairwaySys, asynqSys, ceilingSys}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := parseSystems("fairway,sidekiq"); err == nil || !strings.Contains(err.Error(), "sidekiq") {
		t.Fatalf("unknown system: err = %v", err)
	}
}

func TestRotated(t *testing.T) {
	t.Parallel()
	s := []system{fairwaySys, asynqSys, bullmqSys}
	firsts := make(map[system]bool)
	for round := range len(s) {
		r := rotated(s, round)
		if len(r) != len(s) {
			t.Fatalf("round %d: %v", round, r)
		}
		firsts[r[0]] = true
	}
	if len(firsts) != len(s) {
		t.Fatalf("every system should go first once in %d rounds, got %v", len(s), firsts)
	}
	if r := rotated(s, 1); !slices.Equal(r, []system{asynqSys, bullmqSys, fairwaySys}) {
		t.Fatalf("rotated(s, 1) = %v", r)
	}
	if !slices.Equal(s, []system{fairwaySys, asynqSys, bullmqSys}) {
		t.Fatalf("rotated changed its argument: %v", s)
	}
}

// tableFixture is a comparison of one rate row with targets against
// asynq, River and the ceiling, measured for Fairway (two rounds), asynq
// and the ceiling; River was skipped.
func tableFixture() ([]comparison, results) {
	c := comparison{
		name: "e2e", title: "2. end to end",
		rows: []rowSpec{
			{key: "rate", metric: "process", unit: "msgs/s", targets: []target{
				ratioAtLeast(asynqSys, 4), aheadOf(riverSys), ratioAtLeast(ceilingSys, 0.7),
			}},
			{key: "cmds", metric: "commands", unit: "cmds", targets: []target{fairwayAtMost(8, "cmds")}},
		},
	}
	res := results{"e2e": new([numSystems][]measurement)}
	res["e2e"][fairwaySys] = []measurement{{"rate": {60_000}, "cmds": {7}}, {"rate": {40_000}, "cmds": {9}}}
	res["e2e"][asynqSys] = []measurement{{"rate": {10_000}, "cmds": {14}}}
	res["e2e"][ceilingSys] = []measurement{{"rate": {100_000}, "cmds": {3}}}
	res["e2e"][riverSys] = nil                               // skipped
	res["e2e"][bullmqSys] = []measurement{{"rate": {5_000}}} // no commands row
	return []comparison{c}, res
}

func TestJudge(t *testing.T) {
	t.Parallel()
	cs, res := tableFixture()
	rows := judge(cs, res)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	f := rows[0].fig
	if f.v[fairwaySys] != 50_000 { // the median of the rounds
		t.Errorf("Fairway's figure %v, want 50,000", f.v[fairwaySys])
	}
	if f.has[riverSys] || !math.IsNaN(f.v[riverSys]) {
		t.Errorf("River has a figure: %v", f.v[riverSys])
	}
	if got := f.ratio(asynqSys); got != 5 {
		t.Errorf("ratio to asynq %v, want 5", got)
	}
	want := []judgedTarget{
		{text: "≥ 4.00× asynq", met: true, judged: true},
		{text: "ahead of River", met: false, judged: false},
		{text: "≥ 0.70× ceiling", met: false, judged: true},
	}
	if !slices.Equal(rows[0].targets, want) {
		t.Errorf("targets %+v, want %+v", rows[0].targets, want)
	}
	if !rows[0].fig.has[bullmqSys] || rows[1].fig.has[bullmqSys] {
		t.Errorf("BullMQ's figures: %v and %v, want one for the rate only", rows[0].fig.has, rows[1].fig.has)
	}
	if got := rows[1].targets[0]; !got.met || !got.judged { // median 8 ≤ 8
		t.Errorf("commands target %+v, want met", got)
	}
}

func TestCompareTable(t *testing.T) {
	t.Parallel()
	cs, res := tableFixture()
	systems := []system{fairwaySys, asynqSys, riverSys, ceilingSys}
	table := compareTable(judge(cs, res), systems)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want a header, a rule and 2 rows:\n%s", len(lines), table)
	}
	cells := func(line string) []string {
		var out []string
		for c := range strings.SplitSeq(strings.Trim(line, "|"), "|") {
			out = append(out, strings.TrimSpace(c))
		}
		return out
	}
	header := []string{"scenario", "metric", "Fairway", "asynq", "River", "ceiling",
		"Fairway ÷ asynq", "Fairway ÷ River", "Fairway ÷ ceiling", "target", "met"}
	if got := cells(lines[0]); !slices.Equal(got, header) {
		t.Fatalf("header %q, want %q", got, header)
	}
	row := []string{"2. end to end", "process", "50,000 msgs/s", "10,000 msgs/s", "n/a", "100,000 msgs/s",
		"5.00×", "n/a", "0.50×", "≥ 4.00× asynq; ahead of River; ≥ 0.70× ceiling", "met; n/a; **missed**"}
	if got := cells(lines[2]); !slices.Equal(got, row) {
		t.Fatalf("row %q, want %q", got, row)
	}
	if got := cells(lines[3])[0]; got != "" {
		t.Errorf("the scenario is repeated on its second row: %q", got)
	}
}

func TestCompareTableWithoutFairway(t *testing.T) {
	t.Parallel()
	cs, res := tableFixture()
	table := compareTable(judge(cs, res), []system{asynqSys})
	if strings.Contains(table, "÷") {
		t.Fatalf("ratio columns without Fairway:\n%s", table)
	}
}

func TestTableNotesSkipped(t *testing.T) {
	t.Parallel()
	notes := tableNotes([]system{fairwaySys, riverSys, bullmqSys}, map[system]string{bullmqSys: "node not found on PATH"})
	if !strings.Contains(notes, "bullmq: skipped (node not found on PATH); its columns are n/a.") {
		t.Errorf("no skip line for bullmq:\n%s", notes)
	}
	if !strings.Contains(notes, "fsync=off") {
		t.Errorf("River's note does not say its durability is off:\n%s", notes)
	}
	if strings.Contains(notes, "ceiling is") {
		t.Errorf("a note for a system not selected:\n%s", notes)
	}
}

func testEnv(info io.Writer) *env {
	return &env{info: info, log: slog.New(slog.DiscardHandler)}
}

func TestPreparePeersSkipsWhatFails(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	cleaned := 0
	all := []peer{
		{riverSys, func(context.Context, *env) (func(), error) { return nil, errors.New("postgres binaries not found") }},
		{bullmqSys, func(context.Context, *env) (func(), error) { return func() { cleaned++ }, nil }},
	}
	cleanup, skipped := preparePeers(t.Context(), testEnv(&out), []system{fairwaySys, riverSys, bullmqSys}, all)
	if skipped[riverSys] != "postgres binaries not found" || skipped[bullmqSys] != "" {
		t.Fatalf("skipped %v", skipped)
	}
	if !strings.Contains(out.String(), "river: skipped (postgres binaries not found)\n") {
		t.Errorf("no skip line in:\n%s", out.String())
	}
	cleanup()
	if cleaned != 1 {
		t.Errorf("the peer set up was cleaned up %d times, want 1", cleaned)
	}
	// A peer not selected is not set up.
	_, skipped = preparePeers(t.Context(), testEnv(io.Discard), []system{fairwaySys}, all)
	if len(skipped) != 0 {
		t.Errorf("skipped %v for peers not selected", skipped)
	}
}

func TestPrepareBullMQWithoutNode(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	e := testEnv(io.Discard)
	_, err := prepareBullMQ(t.Context(), e)
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err = %v, want node not found", err)
	}
	if e.bullmq != nil {
		t.Fatal("bullmq set up without node")
	}
}

func TestFairwayAtMostWithoutFairway(t *testing.T) {
	t.Parallel()
	var f figures
	if _, met, judged := fairwayAtMost(8, "cmds")(f); met || judged {
		t.Fatalf("met %v judged %v without a Fairway figure", met, judged)
	}
}
