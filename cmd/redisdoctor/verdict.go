package main

import (
	"slices"
	"strings"

	"github.com/systemtrader/redisclient/internal/noperm"
)

// verdict is the result of a check on one node.
type verdict struct {
	status Status
	detail string
	advice []string
}

// perNode runs f on every node and merges the results: the worst status,
// one detail line per node (prefixed by its address on a cluster), and the
// advice of every node without repeats.
func perNode(name string, nodes []*node, f func(*node) verdict) Check {
	ch := Check{Name: name, Status: StatusSkip}
	if len(nodes) == 1 && nodes[0].addr == "" {
		v := f(nodes[0])
		return Check{Name: name, Status: v.status, Detail: v.detail, Advice: v.advice}
	}
	var lines []string
	for _, n := range nodes {
		v := f(n)
		ch.Status = worse(ch.Status, v.status)
		lines = append(lines, n.addr+": "+v.detail)
		for _, a := range v.advice {
			if !slices.Contains(ch.Advice, a) {
				ch.Advice = append(ch.Advice, a)
			}
		}
	}
	ch.Detail = strings.Join(lines, "\n")
	return ch
}

// missing is the verdict for a check whose data the server did not give.
func missing(n *node, what string) verdict {
	if n.infoErr != nil {
		return verdict{status: StatusSkip, detail: "INFO failed: " + n.infoErr.Error(), advice: deniedAdvice(n.infoErr)}
	}
	return verdict{status: StatusSkip, detail: what + " not reported by the server (INFO lacks it)"}
}

// deniedAdvice is the fix for a diagnostic command the ACL user may not
// run: the doctor's operator user, not more rights for the service's user.
func deniedAdvice(err error) []string {
	cmd, _, _ := strings.Cut(noperm.Command(err), "|") // "slowlog|len": SLOWLOG
	if cmd == "" {
		return nil
	}
	rule := map[string]string{"slowlog": "+slowlog|len +slowlog|get", "config": "+config|get"}[cmd]
	if rule == "" {
		rule = "+" + cmd
	}
	adv := "The ACL user may not run " + strings.ToUpper(cmd) + ", which the doctor reads. Run the doctor as the operator user of deploy/users.conf (REDIS_USERNAME=redisdoctor), or allow " + rule + " for this user"
	if cmd == "info" {
		return []string{adv + " (the library's rule has +info: Health reports memory and clients with it)."}
	}
	return []string{adv + "; the library itself does not need it."}
}
