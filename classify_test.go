package redisclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
)

// classifyCases are the errors the per-command paths classify: a reply, a
// miss, a lost connection, a read timeout, a failed dial.
var classifyCases = []struct {
	name string
	err  error
}{
	{"reply", replyErr("MOVED 3999 127.0.0.1:6381")},
	{"miss", redis.Nil},
	{"eof", fmt.Errorf("read: %w", io.EOF)},
	{"timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}},
	{"dial", &dialError{err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}},
}

// movedNodeHook is a cluster node's hook whose command gets a MOVED reply
// inside an attempt of the retry hook: the breaker records it, the hook
// checks for a connection failure and decides whether to hide it.
func movedNodeHook(tb testing.TB) func() error {
	node := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	reg := newNodeBreakers(BreakerOptions{})
	tb.Cleanup(func() { reg.close(); _ = node.Close() })
	moved := replyErr("MOVED 3999 127.0.0.1:6381")
	hook := newNodeHook(node, reg, nil).ProcessHook(func(context.Context, redis.Cmder) error { return moved })
	ctx := withAttempt(context.Background(), singleAttempt)
	cmd := redis.NewStringCmd(ctx, "get", "k")
	return func() error { return hook(ctx, cmd) }
}

// TestClassifyAllocations: classifying an error allocates nothing, so a
// failing or redirected command pays no garbage for it in the node hooks,
// the breaker and the retry loop.
func TestClassifyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	funcs := []struct {
		name string
		fn   func(error) bool
	}{
		{"isConnFailure", isConnFailure},
		{"IsRetryable", IsRetryable},
		{"notExecuted", notExecuted},
		{"classifyRetry", func(err error) bool { return classifyRetry(err) == retryOther }},
	}
	for _, f := range funcs {
		for _, tc := range classifyCases {
			allocs := testing.AllocsPerRun(100, func() { _ = f.fn(tc.err) })
			t.Logf("%s(%s): %.0f allocs", f.name, tc.name, allocs)
			assert.Zero(t, allocs, "%s(%s)", f.name, tc.name)
		}
	}
	hook := movedNodeHook(t)
	allocs := testing.AllocsPerRun(100, func() { _ = hook() })
	t.Logf("node hook, MOVED: %.0f allocs", allocs)
	// One allocation is the context that marks the call as guarded.
	assert.LessOrEqual(t, allocs, 1.0, "cluster node hook on a MOVED reply")
}

func BenchmarkIsConnFailure(b *testing.B) {
	for _, tc := range classifyCases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = isConnFailure(tc.err)
			}
		})
	}
}

func BenchmarkNodeHookMoved(b *testing.B) {
	hook := movedNodeHook(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = hook()
	}
}
