package broker

import (
	"testing"
	"time"
)

// The partitions of a queue on a Cluster answer on their own nodes' clocks:
// a pull over them reports the shortest wait until a held-back facet frees,
// each measured on one clock, whatever the clocks' offsets.
func TestPullResultWaitAcrossClocks(t *testing.T) {
	t.Parallel()
	base := time.UnixMilli(1_800_000_000_000)
	for _, tc := range []struct {
		name  string
		nows  []time.Duration // each partition's clock, from base
		nexts []time.Duration // when its first held-back facet frees, from its own now; <0: none
		want  time.Duration   // NextReadyAt - Now; <0: zero NextReadyAt
	}{
		{"one partition", []time.Duration{0}, []time.Duration{300 * time.Millisecond}, 300 * time.Millisecond},
		{"none held back", []time.Duration{0, time.Hour}, []time.Duration{-1, -1}, -1},
		{"later clock, nothing held", []time.Duration{0, time.Hour}, []time.Duration{500 * time.Millisecond, -1}, 500 * time.Millisecond},
		{"earlier clock, nothing held", []time.Duration{time.Hour, 0}, []time.Duration{500 * time.Millisecond, -1}, 500 * time.Millisecond},
		{"the shorter wait, on a clock behind", []time.Duration{0, -time.Hour}, []time.Duration{500 * time.Millisecond, 200 * time.Millisecond}, 200 * time.Millisecond},
		{"the shorter wait, on a clock ahead", []time.Duration{0, time.Hour}, []time.Duration{200 * time.Millisecond, 500 * time.Millisecond}, 200 * time.Millisecond},
	} {
		var r PullResult
		for i, now := range tc.nows {
			var next int64
			if tc.nexts[i] >= 0 {
				next = base.Add(now + tc.nexts[i]).UnixMilli()
			}
			r.setClock(base.Add(now), next)
		}
		switch {
		case tc.want < 0 && !r.NextReadyAt.IsZero():
			t.Errorf("%s: NextReadyAt %v, want zero", tc.name, r.NextReadyAt)
		case tc.want >= 0 && r.NextReadyAt.Sub(r.Now) != tc.want:
			t.Errorf("%s: NextReadyAt - Now = %v, want %v", tc.name, r.NextReadyAt.Sub(r.Now), tc.want)
		}
	}
}
