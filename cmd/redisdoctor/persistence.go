package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// saveOverdueMargin is how long past its save rule a snapshot may be late
// before it warns.
const saveOverdueMargin = 5 * time.Minute

// persistenceCheck judges RDB snapshots and the append-only file: a failed
// save or AOF write fails (Redis then refuses writes); a snapshot overdue for
// the save rules, a failed AOF rewrite or loading after a restart warns.
func persistenceCheck(t target, n *node) verdict {
	rdbStatus, hasRDB := n.info["rdb_last_bgsave_status"]
	aofOn, hasAOF := n.info.Int("aof_enabled")
	if !hasRDB && !hasAOF {
		return missing(n, "persistence status")
	}
	p := &persistence{n: n, cli: n.cli(t), v: verdict{status: StatusOK}}
	if loading, _ := n.info.Int("loading"); loading == 1 {
		p.add("loading the data set")
		p.bad(StatusWarn, "Redis is still loading its data files after a restart; wait and check again.")
	}
	saveCfg, hasSave := n.config["save"]
	points := parseSave(saveCfg)
	snapshotsOff := hasSave && len(points) == 0
	if hasRDB {
		p.rdb(rdbStatus, snapshotsOff, points)
	}
	if hasAOF {
		p.aof(aofOn == 1)
	}
	if snapshotsOff && aofOn == 0 {
		p.add("a restart empties the cache")
	}
	p.v.detail = strings.Join(p.parts, "; ")
	return p.v
}

// persistence builds the verdict of persistenceCheck part by part.
type persistence struct {
	n     *node
	cli   string
	v     verdict
	parts []string
}

// forkAdvice is the fix for a background save or rewrite whose fork failed.
const forkAdvice = "A failed fork (\"Can't save in background: fork: Cannot allocate memory\") needs `vm.overcommit_memory = 1` (deploy/README.md, step 5)."

func (p *persistence) add(part string) { p.parts = append(p.parts, part) }

// bad makes the verdict at least s and adds the advice not given yet.
func (p *persistence) bad(s Status, advice ...string) {
	p.v.status = worse(p.v.status, s)
	for _, a := range advice {
		if !slices.Contains(p.v.advice, a) {
			p.v.advice = append(p.v.advice, a)
		}
	}
}

// diskAdvice is the fix for a save or an AOF write that failed.
func (p *persistence) diskAdvice() string {
	return "Check the data directory (`" + p.cli + " config get dir`): free space (`df -h DIR`), and that the server's user owns it and may write it (`ls -ld DIR`; on a systemd host, ReadWritePaths= in the unit). The reason is in the server's log: " + logHint + "."
}

// rdb judges the last snapshot: failed, overdue for the save rules, or fine.
// off says the save setting has no rules.
func (p *persistence) rdb(status string, off bool, points []savePoint) {
	changes, _ := p.n.info.Int("rdb_changes_since_last_save")
	last, _ := p.n.info.Int("rdb_last_save_time")
	saved := last > 0
	var age time.Duration
	if saved {
		age = max(p.n.now.Sub(time.Unix(last, 0)), 0)
	}
	switch {
	case off:
		p.add("RDB snapshots off")
	case saved:
		p.add(fmt.Sprintf("RDB last save %s ago (%s), %d change(s) since", fmtAge(age), status, changes))
	default:
		p.add("RDB last bgsave " + status)
	}
	if status != "ok" && status != "" {
		p.bad(StatusFail, "The last background save failed. With stop-writes-on-bgsave-error yes (the default) Redis now refuses every write until a save succeeds.", p.diskAdvice(), forkAdvice,
			"After fixing the cause, `"+p.cli+" bgsave` and check again.")
	}
	if inProg, _ := p.n.info.Int("rdb_bgsave_in_progress"); inProg == 1 {
		p.add("a save is running")
	} else if due, ok := saveDue(points, changes); ok && saved && age > due+saveOverdueMargin {
		p.parts[len(p.parts)-1] += fmt.Sprintf(", overdue (the save rule says after %s)", fmtAge(due))
		p.bad(StatusWarn, "Snapshots are not being taken although the save rules call for one: a restart would lose "+strconv.FormatInt(changes, 10)+" change(s).", p.diskAdvice())
	}
}

// aof judges the append-only file: its last write and its last rewrite.
func (p *persistence) aof(on bool) {
	if !on {
		p.add("AOF off")
		return
	}
	w := p.n.info["aof_last_write_status"]
	rw := p.n.info["aof_last_bgrewrite_status"]
	p.add(fmt.Sprintf("AOF on (last write %s, last rewrite %s)", w, rw))
	if w != "ok" && w != "" {
		p.bad(StatusFail, "Writing the append-only file failed: Redis refuses writes while it cannot append to the AOF.", p.diskAdvice())
	}
	if rw != "ok" && rw != "" {
		p.bad(StatusWarn, "The last AOF rewrite failed: the AOF keeps growing until one succeeds.", p.diskAdvice(), forkAdvice)
	}
}

// savePoint is one "seconds changes" rule of the save setting.
type savePoint struct {
	after   time.Duration
	changes int64
}

func parseSave(s string) []savePoint {
	f := strings.Fields(s)
	var out []savePoint
	for i := 0; i+1 < len(f); i += 2 {
		sec, err1 := strconv.ParseInt(f[i], 10, 64)
		ch, err2 := strconv.ParseInt(f[i+1], 10, 64)
		if err1 == nil && err2 == nil {
			out = append(out, savePoint{time.Duration(sec) * time.Second, ch})
		}
	}
	return out
}

// saveDue is how long after the last save the save rules call for the next
// one, given the changes made since; ok is false when no rule applies.
func saveDue(points []savePoint, changes int64) (due time.Duration, ok bool) {
	for _, p := range points {
		if changes > 0 && changes >= p.changes && (!ok || p.after < due) {
			due, ok = p.after, true
		}
	}
	return due, ok
}
