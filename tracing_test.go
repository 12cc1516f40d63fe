package redisclient

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func attrOf(t *testing.T, s sdktrace.ReadOnlySpan, key string) string {
	t.Helper()
	v, ok := spanAttr(s, key)
	require.True(t, ok, "span %s has no %s: %v", s.Name(), key, s.Attributes())
	return v
}

// TestGetOrSetSpans: a span per GetOrSet call says hit or miss and how the
// load ended; the load has a child span of its own, beside the commands.
func TestGetOrSetSpans(t *testing.T) {
	k := newTelemetryKit(t)
	c, _ := newMiniredisClient(t, k.with(Options{}))
	models := c.Namespace("models")
	ctx := testCtx(t)
	load := func(context.Context) (int, error) { return 7, nil }

	_, err := GetOrSet(ctx, models, "k", 0, load) // miss, load
	require.NoError(t, err)
	_, err = GetOrSet(ctx, models, "k", 0, load) // hit
	require.NoError(t, err)

	spans := k.spans.Ended()
	calls := spansNamed(spans, spanGetOrSet)
	require.Len(t, calls, 2)
	miss, hit := calls[0], calls[1]

	assert.Equal(t, "false", attrOf(t, miss, "redisclient.cache.hit"))
	assert.Equal(t, "miss", attrOf(t, miss, "redisclient.cache.result"))
	assert.Equal(t, "ok", attrOf(t, miss, "redisclient.load.outcome"))
	assert.Equal(t, "trading:models", attrOf(t, miss, "redisclient.namespace"))
	assert.Equal(t, codes.Unset, miss.Status().Code)

	assert.Equal(t, "true", attrOf(t, hit, "redisclient.cache.hit"))
	assert.Equal(t, "hit", attrOf(t, hit, "redisclient.cache.result"))
	_, ok := spanAttr(hit, "redisclient.load.outcome")
	assert.False(t, ok, "no load on a hit")

	loads := spansNamed(spans, spanLoad)
	require.Len(t, loads, 1)
	assert.Equal(t, miss.SpanContext().SpanID(), loads[0].Parent().SpanID(), "the load is a child of the call")
	assert.Equal(t, "ok", attrOf(t, loads[0], "redisclient.load.outcome"))
	sets := spansNamed(spans, "set")
	require.Len(t, sets, 1)
	assert.Equal(t, miss.SpanContext().SpanID(), sets[0].Parent().SpanID(), "the write is part of the call")
	for _, get := range spansNamed(spans, "get")[:1] {
		assert.Equal(t, miss.SpanContext().SpanID(), get.Parent().SpanID(), "the read is part of the call")
	}
}

// TestGetOrSetSpanOnLoadError: a failed load marks both spans as errors,
// with the error's type but not its text, which names the key.
func TestGetOrSetSpanOnLoadError(t *testing.T) {
	k := newTelemetryKit(t)
	c, _ := newMiniredisClient(t, k.with(Options{}))
	ctx := testCtx(t)
	_, err := GetOrSet(ctx, c, "acct:9", 0, func(context.Context) (int, error) { return 0, errors.New("db down for acct:9") })
	require.Error(t, err)
	_, err = GetOrSet(ctx, c, "acct:10", 0, func(context.Context) (int, error) { panic("boom acct:10") })
	require.Error(t, err)

	spans := k.spans.Ended()
	for _, name := range []string{spanGetOrSet, spanLoad} {
		got := spansNamed(spans, name)
		require.Len(t, got, 2, name)
		for _, s := range got {
			assert.Equal(t, codes.Error, s.Status().Code, name)
			assert.Equal(t, "error", attrOf(t, s, "redisclient.load.outcome"))
			assert.Equal(t, "*errors.errorString", attrOf(t, s, "error.type"))
			for _, text := range spanTexts(s) {
				assert.NotContains(t, text, "acct:", "span %s", name)
			}
		}
	}
}

// TestGetOrSetSpanOnRedisError: with Redis down, GetOrSet loads without the
// cache; its span says so.
func TestGetOrSetSpanOnRedisError(t *testing.T) {
	k := newTelemetryKit(t)
	c, mr := newMiniredisClient(t, k.with(Options{Retry: RetryPolicy{Attempts: 1}, Breaker: BreakerOptions{Threshold: -1}}))
	mr.Close()
	_, err := GetOrSet(testCtx(t), c, "k", 0, func(context.Context) (int, error) { return 1, nil })
	require.NoError(t, err)
	calls := spansNamed(k.spans.Ended(), spanGetOrSet)
	require.Len(t, calls, 1)
	assert.Equal(t, "redis_error", attrOf(t, calls[0], "redisclient.cache.result"))
	assert.Equal(t, "ok", attrOf(t, calls[0], "redisclient.load.outcome"))
	assert.Equal(t, codes.Unset, calls[0].Status().Code, "fail-open is not a failure of the call")
}

// TestGetOrSetSpansOnStampede: concurrent callers of one cold key each get
// a span; the one shared load has one span.
func TestGetOrSetSpansOnStampede(t *testing.T) {
	k := newTelemetryKit(t)
	c, _ := newMiniredisClient(t, k.with(Options{}))
	ctx := testCtx(t)
	release := make(chan struct{})
	var wg sync.WaitGroup
	const callers = 8
	for range callers {
		wg.Go(func() {
			_, err := GetOrSet(ctx, c, "cold", 0, func(context.Context) (int, error) {
				<-release
				return 1, nil
			})
			assert.NoError(t, err)
		})
	}
	require.Eventually(t, func() bool { return c.CacheStats().Misses == callers }, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	spans := k.spans.Ended()
	assert.Len(t, spansNamed(spans, spanGetOrSet), callers)
	assert.Len(t, spansNamed(spans, spanLoad), 1)
}
