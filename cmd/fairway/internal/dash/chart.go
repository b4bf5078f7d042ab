package dash

import (
	"fmt"
	"html/template"
	"time"

	"github.com/fairwayhq/fairway/broker"
)

// throughputChart is a bar chart of processed (and, stacked on top, failed)
// messages per minute, drawn as inline SVG by the "chart" template.
type throughputChart struct {
	Width, Height    int
	Bars             []chartBar
	Max              int64
	Processed        int64
	Failed           int64
	FirstLabel, Last string
}

type chartBar struct {
	X, W        int
	YP, HP      int // processed
	YF, HF      int // failed, above processed
	Title       string
	HasAnything bool
}

const (
	chartWidth  = 720
	chartHeight = 160
)

// newThroughputChart lays out points, oldest first.
func newThroughputChart(points []broker.HistoryPoint) throughputChart {
	c := throughputChart{Width: chartWidth, Height: chartHeight, Max: 1}
	for _, p := range points {
		c.Max = max(c.Max, p.Processed+p.Failed)
		c.Processed += p.Processed
		c.Failed += p.Failed
	}
	if len(points) == 0 {
		return c
	}
	slot := chartWidth / len(points)
	for i, p := range points {
		hp := int(p.Processed * chartHeight / c.Max)
		hf := int(p.Failed * chartHeight / c.Max)
		c.Bars = append(c.Bars, chartBar{
			X: i * slot, W: max(slot-1, 1),
			YP: chartHeight - hp, HP: hp, YF: chartHeight - hp - hf, HF: hf,
			Title:       fmt.Sprintf("%s: %d processed, %d failed", p.Minute.Format("15:04"), p.Processed, p.Failed),
			HasAnything: p.Processed+p.Failed > 0,
		})
	}
	c.FirstLabel = points[0].Minute.Format("15:04")
	c.Last = points[len(points)-1].Minute.Format("15:04")
	return c
}

// sumHistory adds up several queues' histories minute by minute.
func sumHistory(hs [][]broker.HistoryPoint) []broker.HistoryPoint {
	if len(hs) == 0 {
		return nil
	}
	out := append([]broker.HistoryPoint(nil), hs[0]...)
	for _, h := range hs[1:] {
		for i := range min(len(out), len(h)) {
			out[i].Processed += h[i].Processed
			out[i].Failed += h[i].Failed
		}
	}
	return out
}

// facetChart is a horizontal bar chart of the facets' backlogs.
type facetChart struct {
	Width, Height int
	Rows          []facetBar
}

type facetBar struct {
	Y, W  int
	Label string
	Ready int64
}

const (
	facetRowHeight = 22
	facetBarMax    = 460
)

func newFacetChart(fs []broker.FacetStats) facetChart {
	c := facetChart{Width: 720, Height: max(len(fs), 1) * facetRowHeight}
	var top int64 = 1
	for _, f := range fs {
		top = max(top, f.Ready)
	}
	for i, f := range fs {
		label := f.Facet
		if r := []rune(label); len(r) > 26 {
			label = string(r[:25]) + "…"
		}
		c.Rows = append(c.Rows, facetBar{Y: i * facetRowHeight, W: max(int(f.Ready*facetBarMax/top), 1), Label: label, Ready: f.Ready})
	}
	return c
}

var funcs = template.FuncMap{
	"add": func(a, b int) int { return a + b },
	"ago": func(t time.Time) string {
		d := time.Since(t).Round(time.Second)
		if d < 0 {
			d = 0
		}
		return d.String() + " ago"
	},
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	// in is how long until t, for rate-limited facets: "in 1.2s".
	"in": func(t time.Time) string {
		return "in " + max(time.Until(t), 0).Round(time.Millisecond).String()
	},
	// rateInput is a rate limit as the form fields take it.
	"rateInput": broker.RateLimit.String,
}
