package redisclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// cannedInfo is an INFO reply of a real Redis 7, trimmed.
const cannedInfo = "# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\n\r\n" +
	"# Clients\r\nconnected_clients:12\r\n\r\n" +
	"# Memory\r\nused_memory:950000\r\nused_memory_human:927.73K\r\nmaxmemory:1000000\r\nmaxmemory_policy:allkeys-lru\r\n\r\n" +
	"# Stats\r\nevicted_keys:7\r\nkeyspace_hits:300\r\nkeyspace_misses:100\r\n\r\n" +
	"# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"

// serveInfo makes miniredis answer INFO with info.
func serveInfo(mr *miniredis.Miniredis, info string) {
	mr.Server().SetPreHook(func(p *server.Peer, cmd string, _ ...string) bool {
		if cmd == "INFO" {
			p.WriteBulk(info)
			return true
		}
		return false
	})
}

func TestHealthHealthy(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{DB: 3})
	before := time.Now().UTC()
	r := c.Health(testCtx(t))
	assert.Equal(t, StatusHealthy, r.Status, "%+v", r)
	assert.True(t, r.Connected)
	assert.Empty(t, r.Error)
	assert.Empty(t, r.Problems)
	assert.Greater(t, r.Latency, time.Duration(0))
	assert.InDelta(t, float64(r.Latency)/1e6, r.ResponseTimeMS, 0.001)
	assert.Equal(t, mr.Addr(), r.Address)
	assert.Equal(t, "127.0.0.1", r.Host)
	assert.Equal(t, mr.Port(), strconv.Itoa(r.Port))
	assert.Equal(t, 3, r.DB)
	assert.Equal(t, "standalone", r.Deployment)
	assert.Equal(t, BreakerClosed, r.Breaker)
	assert.GreaterOrEqual(t, r.Pool.TotalConns, uint32(1))
	assert.GreaterOrEqual(t, r.ConnectedClients, int64(1), "miniredis reports its clients")
	assert.False(t, r.Timestamp.Before(before.Add(-time.Second)))
	assert.Equal(t, time.UTC, r.Timestamp.Location())
}

func TestHealthParsesInfo(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	serveInfo(mr, cannedInfo)
	r := c.Health(testCtx(t))
	assert.Equal(t, "7.2.4", r.Version)
	assert.Equal(t, "master", r.Role)
	assert.Equal(t, int64(950000), r.MemoryUsed)
	assert.Equal(t, int64(1000000), r.MaxMemory)
	assert.Equal(t, 95.0, r.MemoryUsagePct)
	assert.Equal(t, "allkeys-lru", r.MaxMemoryPolicy)
	assert.Equal(t, int64(7), r.EvictedKeys)
	assert.Equal(t, int64(300), r.KeyspaceHits)
	assert.Equal(t, int64(100), r.KeyspaceMisses)
	assert.Equal(t, 0.75, r.HitRatio)
	assert.Equal(t, int64(12), r.ConnectedClients)

	assert.Equal(t, StatusDegraded, r.Status)
	require.Len(t, r.Problems, 2, "%q", r.Problems)
	assert.Contains(t, r.Problems[0], "memory at 95.0% of maxmemory")
	assert.Contains(t, r.Problems[1], "7 keys evicted under maxmemory-policy allkeys-lru")
}

func TestHealthDegradedRules(t *testing.T) {
	info := func(used, max int, policy string, evicted int) string {
		return "redis_version:7.0.15\r\nused_memory:" + strconv.Itoa(used) + "\r\nmaxmemory:" + strconv.Itoa(max) +
			"\r\nmaxmemory_policy:" + policy + "\r\nevicted_keys:" + strconv.Itoa(evicted) + "\r\nrole:master\r\n"
	}
	for _, tc := range []struct {
		name string
		info string
		want HealthStatus
	}{
		{"below threshold", info(899, 1000, "allkeys-lru", 0), StatusHealthy},
		{"at threshold", info(900, 1000, "allkeys-lru", 0), StatusDegraded},
		{"no maxmemory", info(1<<30, 0, "noeviction", 0), StatusHealthy},
		{"evictions under noeviction impossible", info(10, 1000, "noeviction", 3), StatusHealthy},
		{"evictions under volatile-ttl", info(10, 1000, "volatile-ttl", 1), StatusDegraded},
		{"miniredis-like, no memory section", "connected_clients:1\r\n", StatusHealthy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, mr := newMiniredisClient(t, Options{})
			serveInfo(mr, tc.info)
			r := c.Health(testCtx(t))
			assert.Equal(t, tc.want, r.Status, "%q", r.Problems)
		})
	}
}

func TestHealthBreakerOpenIsDegraded(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{Breaker: BreakerOptions{Threshold: 1, Cooldown: time.Hour}})
	c.shared.breaker.record(context.Background(), errRefused)
	require.Equal(t, BreakerOpen, c.BreakerState())
	require.ErrorIs(t, c.Ping(testCtx(t)), ErrUnavailable, "calls fail fast")

	// Health sees through the breaker: Redis answers, so degraded, not down.
	r := c.Health(testCtx(t))
	assert.Equal(t, StatusDegraded, r.Status)
	assert.True(t, r.Connected)
	assert.Equal(t, BreakerOpen, r.Breaker)
	assert.Equal(t, []string{"circuit breaker is open"}, r.Problems)
}

func TestHealthUnhealthy(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	mr.Close()
	r := c.Health(testCtx(t))
	assert.Equal(t, StatusUnhealthy, r.Status)
	assert.False(t, r.Connected)
	assert.Contains(t, r.Error, "connection refused")
	assert.Equal(t, FailureRefused, r.Failure)
	assert.Equal(t, []string{"nothing listens at " + r.Address + " (connection refused): start redis-server, or fix the address"}, r.Problems)
	assert.Equal(t, "127.0.0.1", r.Host, "the address is reported even when down")

	require.NoError(t, c.Close())
	r = c.Health(testCtx(t))
	assert.Equal(t, StatusUnhealthy, r.Status)
	assert.Contains(t, r.Error, "closed")

	r = errClient(errors.New("bad config")).Health(testCtx(t))
	assert.Equal(t, StatusUnhealthy, r.Status)
	assert.Contains(t, r.Error, "bad config")
}

func TestHealthNeverShowsPassword(t *testing.T) {
	mr := miniredis.RunT(t)
	mr.RequireAuth("s3cret-pw")
	c, err := New(Options{URL: "redis://:s3cret-pw@" + mr.Addr() + "/0"})
	require.NoError(t, err)
	defer c.Close()
	rec := httptest.NewRecorder()
	c.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.NotContains(t, rec.Body.String(), "s3cret")
	assert.Contains(t, rec.Body.String(), mr.Addr())

	// Nor when authentication fails.
	bad, err := New(Options{URL: "redis://:wrong-pw@" + mr.Addr() + "/0"})
	require.NoError(t, err)
	defer bad.Close()
	rec = httptest.NewRecorder()
	bad.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.NotContains(t, rec.Body.String(), "wrong-pw")
}

func TestHealthHandler(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{})
	srv := httptest.NewServer(c.HealthHandler())
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m), string(body))
	// The Python original's fields, and the rest of the report.
	for _, k := range []string{
		"status", "connected", "response_time_ms", "host", "port", "db", "memory_used", "max_memory", "memory_usage_pct",
		"address", "deployment", "evicted_keys", "keyspace_hit_ratio", "keyspace_hits", "keyspace_misses",
		"connected_clients", "pool", "breaker", "timestamp",
	} {
		assert.Contains(t, m, k)
	}
	assert.Equal(t, "healthy", m["status"])
	assert.Equal(t, true, m["connected"])
	assert.Equal(t, "closed", m["breaker"])
	assert.Equal(t, float64(mustAtoi(t, mr.Port())), m["port"])
	pool, _ := m["pool"].(map[string]any)
	assert.Contains(t, pool, "total_conns")

	// Degraded is still 200.
	serveInfo(mr, cannedInfo)
	resp, err = http.Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// HEAD: status only.
	resp, err = http.Head(srv.URL)
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, body)

	resp, err = http.Get(srv.URL + "?timeout=soon")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// Down: 503 with the report.
	mr.Close()
	resp, err = http.Get(srv.URL)
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	var r HealthReport
	require.NoError(t, json.Unmarshal(body, &r))
	assert.Equal(t, StatusUnhealthy, r.Status)
	assert.NotEmpty(t, r.Error)
}

func mustAtoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

func TestHealthHandlerHonoursTimeout(t *testing.T) {
	c, err := New(Options{Addr: testkit.Blackhole(t), ReadTimeout: 10 * time.Second, DialTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer c.Close()
	h := c.HealthHandler()

	start := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz?timeout=150ms", nil))
	elapsed := time.Since(start)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Less(t, elapsed, 5*time.Second, "the 10 s read timeout must not apply")
	assert.GreaterOrEqual(t, elapsed, 150*time.Millisecond)
	t.Logf("blackholed health check answered 503 in %v", elapsed)

	// The request's own context bounds it too.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil).WithContext(ctx))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.True(t, strings.Contains(rec.Body.String(), "timeout") || strings.Contains(rec.Body.String(), "deadline"), rec.Body.String())
}

func TestHealthAddress(t *testing.T) {
	for _, tc := range []struct {
		o          Options
		d          deployment
		addr, host string
		port       int
	}{
		{Options{Addr: "redis.local:6380"}, standalone, "redis.local:6380", "redis.local", 6380},
		{Options{Addr: "[::1]:6379"}, standalone, "[::1]:6379", "::1", 6379},
		{Options{Addr: "unix:/run/redis.sock"}, standalone, "unix:/run/redis.sock", "/run/redis.sock", 0},
		{Options{Addrs: []string{"a:7000", "b:7001"}}, cluster, "a:7000,b:7001", "a", 7000},
		{Options{MasterName: "mymaster", SentinelAddrs: []string{"s1:26379"}}, sentinel, "mymaster@s1:26379", "s1", 26379},
	} {
		addr, host, port := healthAddress(&tc.o, tc.d)
		assert.Equal(t, tc.addr, addr)
		assert.Equal(t, tc.host, host)
		assert.Equal(t, tc.port, port)
	}
}

func TestHealthOnRealServer(t *testing.T) {
	c := newRealClient(t, Options{})
	r := c.Health(testCtx(t))
	assert.Contains(t, []HealthStatus{StatusHealthy, StatusDegraded}, r.Status, "%q", r.Problems)
	assert.True(t, r.Connected)
	assert.NotEmpty(t, r.Version)
	assert.Equal(t, "master", r.Role)
	assert.Greater(t, r.MemoryUsed, int64(0))
	assert.NotEmpty(t, r.MaxMemoryPolicy)
	assert.Greater(t, r.ConnectedClients, int64(0))
}

func TestHealthNamesARefusingServer(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Breaker: BreakerOptions{Threshold: -1}, Retry: RetryPolicy{Attempts: 1}})
	mr.SetError("LOADING Redis is loading the dataset in memory")
	r := c.Health(testCtx(t))
	assert.Equal(t, StatusUnhealthy, r.Status)
	assert.Equal(t, FailureLoading, r.Failure)
	assert.Contains(t, r.Problems, "redis answers but is loading its data set (LOADING): wait until it is done")
	mr.SetError("MISCONF Errors writing to the AOF file")
	r = c.Health(testCtx(t))
	assert.Equal(t, FailureRefusing, r.Failure)
	assert.Contains(t, r.Problems, "redis answers but refuses commands (MISCONF)")
	mr.SetError("")
	mr.Close()
	r = c.Health(testCtx(t))
	assert.Equal(t, FailureRefused, r.Failure)
	assert.Contains(t, r.Problems[0], "(connection refused): start redis-server, or fix the address")
}

// A connection closed without a reply is not a Redis error code: the old
// check took "EOF" for one and said "redis answers but refuses commands
// (EOF)".
func TestHealthClosedConnectionIsNotARefusal(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_ = conn.Close() // close at once, like a TLS port read by a plain client
		}
	}()
	c, err := New(Options{Addr: l.Addr().String(), Breaker: BreakerOptions{Threshold: -1}, Retry: RetryPolicy{Attempts: 1}})
	require.NoError(t, err)
	defer c.Close()
	r := c.Health(testCtx(t))
	assert.Equal(t, StatusUnhealthy, r.Status)
	assert.Equal(t, FailureClosed, r.Failure, "%q", r.Problems)
	for _, p := range r.Problems {
		assert.NotContains(t, p, "refuses commands")
	}
}
