package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// result is one measured number and, if it has one, its target.
type result struct {
	scenario, metric string
	value            float64
	unit             string
	// target is the bound the value must meet; 0 means none.
	target float64
	// atMost makes target an upper bound; otherwise it is a lower bound.
	atMost bool
}

// met reports whether the value meets its target (true when it has none).
func (r result) met() bool {
	switch {
	case r.target == 0:
		return true
	case r.atMost:
		return r.value <= r.target
	default:
		return r.value >= r.target
	}
}

func (r result) targetText() string {
	if r.target == 0 {
		return "—"
	}
	op := "≥"
	if r.atMost {
		op = "≤"
	}
	return fmt.Sprintf("%s %s %s", op, number(r.target), r.unit)
}

func (r result) status() string {
	switch {
	case r.target == 0:
		return ""
	case r.met():
		return "ok"
	default:
		return "**MISSED**"
	}
}

// printTable writes results as a markdown table.
func printTable(w io.Writer, rs []result) {
	rows := [][]string{{"scenario", "metric", "value", "target", "met"}}
	for _, r := range rs {
		rows = append(rows, []string{r.scenario, r.metric, number(r.value) + " " + r.unit, r.targetText(), r.status()})
	}
	_, _ = io.WriteString(w, markdownTable(rows))
}

// markdownTable renders rows, the first being the header, as a markdown
// table with aligned columns.
func markdownTable(rows [][]string) string {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			b.WriteString("| " + c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)) + " ")
		}
		b.WriteString("|\n")
	}
	line(rows[0])
	sep := make([]string, len(widths))
	for i, n := range widths {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
	return b.String()
}

// number formats v with precision fit for its size.
func number(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
