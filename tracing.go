package redisclient

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Span names and attributes of the library's own spans.
const (
	spanGetOrSet = "redisclient.GetOrSet"
	spanLoad     = "redisclient.load"

	attrOp          = attribute.Key("redisclient.op")
	attrCacheKey    = attribute.Key("redisclient.key")
	attrCacheHit    = attribute.Key("redisclient.cache.hit")
	attrCacheResult = attribute.Key("redisclient.cache.result")
	attrLoadOutcome = attribute.Key("redisclient.load.outcome")
	attrErrorType   = attribute.Key("error.type")
)

// cacheEvent is something GetOrSet counts in CacheStats.
type cacheEvent uint8

const (
	cacheHit        cacheEvent = iota // a readable value in Redis
	cacheMiss                         // none, or one that does not decode
	cacheReadError                    // Redis failed the read: load without the cache
	cacheLoad                         // a load function called
	cacheLoadError                    // ... and failed
	cacheWriteError                   // the loaded value could not be stored
)

var cacheResults = [...]string{cacheHit: "hit", cacheMiss: "miss", cacheReadError: "redis_error"}

// note counts ev for the view's namespace and, for the outcome of the
// cache read, marks the GetOrSet span of ctx.
func (c *Client) note(ctx context.Context, ev cacheEvent) {
	s := c.stats
	switch ev {
	case cacheHit:
		s.hits.Add(1)
	case cacheMiss:
		s.misses.Add(1)
	case cacheLoad:
		s.loads.Add(1)
	case cacheLoadError:
		s.loadErrors.Add(1)
	case cacheReadError, cacheWriteError:
		s.redisErrors.Add(1)
	}
	if ev <= cacheReadError && c.shared.tel.tracer != nil {
		if sp, ok := ctx.Value(getOrSetSpanKey{}).(*getOrSetSpan); ok {
			sp.result = ev
		}
	}
}

type getOrSetSpanKey struct{}

// getOrSetSpan is the span of one GetOrSet call. Only the caller's
// goroutine touches it (shared loads run elsewhere and never do).
type getOrSetSpan struct {
	span   trace.Span
	result cacheEvent
}

// traceGetOrSet starts the span of a GetOrSet-style call on full key k. It
// returns ctx unchanged and a nil span (whose end does nothing) when no
// tracer provider is installed.
func (c *Client) traceGetOrSet(ctx context.Context, op, k string) (context.Context, *getOrSetSpan) {
	tr := c.shared.tel.tracer
	if tr == nil {
		return ctx, nil
	}
	attrs := []attribute.KeyValue{attrNamespace.String(c.ns), attrOp.String(op)}
	if c.shared.tel.traceKeys {
		attrs = append(attrs, attrCacheKey.String(k))
	}
	ctx, span := tr.Start(ctx, spanGetOrSet, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	sp := &getOrSetSpan{span: span, result: cacheMiss}
	return context.WithValue(ctx, getOrSetSpanKey{}, sp), sp
}

// end records the call's outcome and ends the span. The error's text is
// left out: it names the key, which spans carry only with TraceKeys.
func (sp *getOrSetSpan) end(err error) {
	if sp == nil {
		return
	}
	sp.span.SetAttributes(attrCacheHit.Bool(sp.result == cacheHit), attrCacheResult.String(cacheResults[sp.result]))
	switch {
	case err != nil:
		sp.span.SetAttributes(attrErrorType.String(errorType(err)))
		sp.span.SetStatus(codes.Error, "GetOrSet failed")
		if sp.result != cacheHit {
			sp.span.SetAttributes(attrLoadOutcome.String("error"))
		}
	case sp.result != cacheHit:
		sp.span.SetAttributes(attrLoadOutcome.String("ok"))
	}
	sp.span.End()
}

// tracedLoad calls load (turning a panic into an error, as callLoad does)
// inside a span of its own, a child of the GetOrSet span of the caller that
// started the shared load.
func tracedLoad[T any](ctx context.Context, c *Client, load func(context.Context) (T, error)) (T, error) {
	tr := c.shared.tel.tracer
	if tr == nil {
		return callLoad(ctx, load)
	}
	ctx, span := tr.Start(ctx, spanLoad, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attrNamespace.String(c.ns)))
	defer span.End()
	v, err := callLoad(ctx, load)
	if err != nil {
		span.SetAttributes(attrLoadOutcome.String("error"), attrErrorType.String(errorType(err)))
		span.SetStatus(codes.Error, "load failed")
		return v, err
	}
	span.SetAttributes(attrLoadOutcome.String("ok"))
	return v, nil
}

// errorType names err for the error.type attribute: the library's sentinel
// or the context error it wraps, else the Go type of its cause. Never its
// text, which may name a key.
func errorType(err error) string {
	for _, s := range errorTypes {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	var e *Error
	if errors.As(err, &e) && e.Err != nil {
		err = e.Err
	}
	return fmt.Sprintf("%T", err)
}

var errorTypes = []struct {
	err  error
	name string
}{
	{context.Canceled, "canceled"},
	{context.DeadlineExceeded, "deadline_exceeded"},
	{ErrClosed, "closed"},
	{ErrUnavailable, "unavailable"},
	{ErrInvalidKey, "invalid_key"},
	{ErrInvalidOptions, "invalid_options"},
	{ErrUnsupportedFormat, "unsupported_format"},
}
