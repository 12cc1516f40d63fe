package main

import (
	"fmt"
	"strings"
	"time"
)

// renderText formats a report for people.
func renderText(rep Report) string {
	var b strings.Builder
	what := rep.Deployment + " Redis at " + rep.Target
	if rep.Deployment != "cluster" {
		what += fmt.Sprintf(", db %d", rep.DB)
	}
	fmt.Fprintf(&b, "redisdoctor: %s (%s)\n\n", what, rep.CheckedAt.Format(time.RFC3339))
	nameWidth := 0
	for _, c := range rep.Checks {
		nameWidth = max(nameWidth, len(c.Name))
	}
	indent := strings.Repeat(" ", 6+nameWidth+2)
	var warns, fails, skips int
	for _, c := range rep.Checks {
		switch c.Status {
		case StatusWarn:
			warns++
		case StatusFail:
			fails++
		case StatusSkip:
			skips++
		}
		lines := strings.Split(c.Detail, "\n")
		fmt.Fprintf(&b, "%-4s  %-*s  %s\n", c.Status, nameWidth, c.Name, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "%s%s\n", indent, l)
		}
		for _, a := range c.Advice {
			for i, l := range wrap("fix: "+a, wrapWidth-len(indent)) {
				if i > 0 {
					l = "     " + l
				}
				fmt.Fprintf(&b, "%s%s\n", indent, l)
			}
		}
	}
	b.WriteString("\n")
	verdict := "healthy"
	if fails > 0 {
		verdict = "UNHEALTHY"
	}
	fmt.Fprintf(&b, "%s: %d failed, %d warning(s), %d skipped (exit %d, %s)\n",
		verdict, fails, warns, skips, rep.ExitCode, fmtDur(time.Duration(rep.DurationMS*float64(time.Millisecond))))
	if rep.needsPassword && mentionsCLI(rep) {
		b.WriteString("redis-cli needs the password: `read -rs REDISCLI_AUTH && export REDISCLI_AUTH` (not -a, which shows in ps).\n")
	}
	return b.String()
}

// mentionsCLI reports whether any advice suggests a redis-cli command.
func mentionsCLI(rep Report) bool {
	for _, c := range rep.Checks {
		for _, a := range c.Advice {
			if strings.Contains(a, "redis-cli") {
				return true
			}
		}
	}
	return false
}

// wrapWidth is the width advice is wrapped to.
const wrapWidth = 100

// wrap breaks s into lines of at most width runes (5 fewer after the first,
// for the hanging indent), at spaces; a longer word gets a line of its own.
func wrap(s string, width int) []string {
	width = max(width, 40)
	var lines []string
	var cur strings.Builder
	limit := width
	for _, w := range strings.Fields(s) {
		if cur.Len() > 0 && cur.Len()+1+len(w) > limit {
			lines = append(lines, cur.String())
			cur.Reset()
			limit = width - 5
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(w)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
