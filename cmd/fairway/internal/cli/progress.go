package cli

import (
	"io"
	"strings"
)

// progressBar draws "[#####.....]  50% 500/1000" on one line of a terminal,
// redrawn in place; a disabled bar draws nothing.
type progressBar struct {
	w       io.Writer
	total   int64
	on      bool
	drawn   bool
	lastPct int64
}

const barWidth = 30

func newProgressBar(w io.Writer, total int64, on bool) *progressBar {
	return &progressBar{w: w, total: total, on: on && total > 0, lastPct: -1}
}

// set draws the bar at done, when its percentage changed.
func (p *progressBar) set(done int64) {
	if !p.on {
		return
	}
	done = min(done, p.total)
	pct := done * 100 / p.total
	if pct == p.lastPct {
		return
	}
	p.lastPct, p.drawn = pct, true
	fill := int(done * barWidth / p.total)
	printf(p.w, "\r[%s%s] %3d%% %d/%d", strings.Repeat("#", fill), strings.Repeat(".", barWidth-fill), pct, done, p.total)
}

// finish ends the bar's line.
func (p *progressBar) finish() {
	if p.drawn {
		printf(p.w, "\n")
	}
}
