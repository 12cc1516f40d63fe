package redisclient

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

var testNamespaceSeq atomic.Int64

// uniqueNamespace gives each test its own namespace on a shared server.
func uniqueNamespace(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return fmt.Sprintf("test_%s_%d_%d", name, os.Getpid(), testNamespaceSeq.Add(1))
}

// newMiniredisClient returns a client on a fresh in-process miniredis.
func newMiniredisClient(t testing.TB, opts Options) (*Client, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	opts.Addr = mr.Addr()
	c, err := New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, mr
}

// newRealClient returns a client on the integration server, in a namespace of
// its own that is flushed when the test ends.
func newRealClient(t testing.TB, opts Options) *Client {
	t.Helper()
	opts.URL = testkit.RequireEnv(t, testkit.EnvURL)
	if opts.Namespace == "" {
		opts.Namespace = uniqueNamespace(t)
	}
	c, err := New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Ping(ctx), "integration server at %s", testkit.EnvURL)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = c.FlushNamespace(ctx)
		_ = c.Close()
	})
	return c
}

// backends runs fn against miniredis and, when available, a real server.
func backends(t *testing.T, opts Options, fn func(t *testing.T, c *Client)) {
	t.Run("miniredis", func(t *testing.T) {
		c, _ := newMiniredisClient(t, opts)
		fn(t, c)
	})
	t.Run("redis", func(t *testing.T) {
		fn(t, newRealClient(t, opts))
	})
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
