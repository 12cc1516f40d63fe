package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// slowlogShow entries are shown; an entry newer than slowlogRecent warns.
const (
	slowlogShow   = 5
	slowlogRecent = time.Hour
)

// slowlogCheck shows the newest SLOWLOG entries (commands and keys, never
// values); one newer than slowlogRecent warns.
func slowlogCheck(t target, n *node) verdict {
	if n.slowErr != nil {
		if strings.Contains(strings.ToLower(n.slowErr.Error()), "unknown command") {
			return verdict{status: StatusSkip, detail: "the server does not support SLOWLOG"}
		}
		return verdict{status: StatusSkip, detail: "SLOWLOG failed: " + n.slowErr.Error(), advice: deniedAdvice(n.slowErr)}
	}
	threshold := ""
	if us, err := strconv.ParseInt(n.config["slowlog-log-slower-than"], 10, 64); err == nil && us >= 0 {
		threshold = fmt.Sprintf(" (commands slower than %s)", fmtDur(time.Duration(us)*time.Microsecond))
	}
	if n.slowLen == 0 || len(n.slow) == 0 {
		return verdict{status: StatusOK, detail: "empty" + threshold}
	}
	newest := n.slow[0].Time
	for _, e := range n.slow {
		if e.Time.After(newest) {
			newest = e.Time
		}
	}
	ago := max(n.now.Sub(newest), 0)
	lines := []string{fmt.Sprintf("%d entr%s%s, newest %s ago:", n.slowLen, plural(n.slowLen, "y", "ies"), threshold, fmtAge(ago))}
	for _, e := range n.slow {
		lines = append(lines, fmt.Sprintf("  %s ago  %s  %s", fmtAge(max(n.now.Sub(e.Time), 0)), fmtDur(e.Duration), describeArgs(e.Args)))
	}
	v := verdict{status: StatusOK, detail: strings.Join(lines, "\n")}
	if ago < slowlogRecent {
		cli := n.cli(t)
		v.status = StatusWarn
		v.advice = []string{
			"Commands were slow within the last " + fmtAge(slowlogRecent) + ": see them all with `" + cli + " slowlog get 10`. Usual suspects: KEYS, SMEMBERS/HGETALL/LRANGE 0 -1 on big collections, large values, Lua scripts; use SCAN and smaller values.",
			"Once handled, `" + cli + " slowlog reset` clears the log.",
		}
	}
	return v
}

// describeArgs shows a slow command by name and key only, never its values
// (they could be secrets).
func describeArgs(args []string) string {
	if len(args) == 0 {
		return "(no arguments recorded)"
	}
	name := strings.ToUpper(args[0])
	switch name {
	case "AUTH", "HELLO", "CONFIG", "ACL", "MIGRATE", "CLIENT", "EVAL", "EVALSHA", "FCALL":
		return fmt.Sprintf("%s (%d args)", name, len(args)-1)
	}
	if len(args) == 1 {
		return name
	}
	key := args[1]
	if len(key) > 60 {
		key = key[:57] + "..."
	}
	return fmt.Sprintf("%s %s (%d args)", name, key, len(args)-1)
}
