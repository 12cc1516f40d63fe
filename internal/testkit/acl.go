package testkit

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

// ACLLog returns the server's ACL LOG entries, one line each ("reason=command
// object=ping username=app context=toplevel"), oldest first.
func (s *Server) ACLLog(t testing.TB) []string {
	t.Helper()
	entries := s.aclEntries(t)
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		m := entries[i]
		out = append(out, fmt.Sprintf("reason=%v object=%v username=%v context=%v", m["reason"], m["object"], m["username"], m["context"]))
	}
	return out
}

// ACLDenials returns how many times the server refused object (a command
// such as "client|id", a key or a channel) since the ACL LOG was reset.
func (s *Server) ACLDenials(t testing.TB, object string) int64 {
	t.Helper()
	var n int64
	for _, m := range s.aclEntries(t) {
		if fmt.Sprint(m["object"]) == object {
			c, _ := m["count"].(int64)
			n += c
		}
	}
	return n
}

// aclEntries reads ACL LOG, newest entry first.
func (s *Server) aclEntries(t testing.TB) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	v, err := s.Admin().Do(ctx, "ACL", "LOG").Slice()
	if err != nil {
		t.Fatalf("ACL LOG: %v", err)
	}
	out := make([]map[string]any, len(v))
	for i, e := range v {
		out[i] = entryMap(e)
	}
	return out
}

// ResetACLLog empties the ACL LOG.
func (s *Server) ResetACLLog(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	if err := s.Admin().Do(ctx, "ACL", "LOG", "RESET").Err(); err != nil {
		t.Fatalf("ACL LOG RESET: %v", err)
	}
}

// CommandsRun lists the commands the server has run since start (INFO
// commandstats), lower case, subcommands as "client|setinfo", sorted.
func (s *Server) CommandsRun(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	info, err := s.Admin().Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	var out []string
	for line := range strings.Lines(info) {
		name, _, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":")
		if ok && !strings.HasPrefix(line, "#") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// entryMap turns one ACL LOG entry (a RESP2 flat list or a RESP3 map) into
// a map.
func entryMap(v any) map[string]any {
	switch e := v.(type) {
	case map[any]any:
		m := make(map[string]any, len(e))
		for k, val := range e {
			m[fmt.Sprint(k)] = val
		}
		return m
	case []any:
		m := make(map[string]any, len(e)/2)
		for i := 0; i+1 < len(e); i += 2 {
			m[fmt.Sprint(e[i])] = e[i+1]
		}
		return m
	}
	return map[string]any{"entry": v}
}

// DeployUser returns the "user NAME ..." directive of deploy/users.conf,
// with password as its password and extra ACL rules appended (a later rule
// wins: "-ping" takes +ping away).
func DeployUser(t testing.TB, name, password string, extra ...string) string {
	t.Helper()
	b, err := os.ReadFile(RepoPath("deploy", "users.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] != "user" || f[1] != name {
			continue
		}
		for i, w := range f {
			if strings.HasPrefix(w, "#REPLACE_WITH_SHA256_OF_") {
				f[i] = ">" + password
			}
		}
		return strings.Join(append(f, extra...), " ")
	}
	t.Fatalf("deploy/users.conf has no user %s", name)
	return ""
}

// AllowedCommands lists the +command rules of a user directive, lower
// case ("config|get" for subcommands).
func AllowedCommands(directive string) []string {
	var out []string
	for _, w := range strings.Fields(directive) {
		if c, ok := strings.CutPrefix(w, "+"); ok && !strings.HasPrefix(c, "@") {
			out = append(out, strings.ToLower(c))
		}
	}
	return out
}
