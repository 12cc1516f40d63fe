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
)

// Test environment. scripts/servers.sh writes these variables; with
// REDISCLIENT_INTEGRATION=1 (as in CI) a test that needs a missing server
// fails instead of skipping.
const (
	envIntegration    = "REDISCLIENT_INTEGRATION"
	envTestURL        = "REDISCLIENT_TEST_URL"
	envClusterAddrs   = "REDISCLIENT_TEST_CLUSTER_ADDRS"
	envSentinelAddrs  = "REDISCLIENT_TEST_SENTINEL_ADDRS"
	envSentinelMaster = "REDISCLIENT_TEST_SENTINEL_MASTER"
)

// requireEnv returns the value of an integration variable, skipping the test
// when it is unset outside CI and failing it when integration is required.
func requireEnv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv(envIntegration) == "1" {
		t.Fatalf("%s=1 but %s is not set: start the servers with scripts/servers.sh", envIntegration, name)
	}
	t.Skipf("integration test: %s not set (run scripts/test.sh)", name)
	return ""
}

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
	opts.URL = requireEnv(t, envTestURL)
	if opts.Namespace == "" {
		opts.Namespace = uniqueNamespace(t)
	}
	c, err := New(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Ping(ctx), "integration server at %s", envTestURL)
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
