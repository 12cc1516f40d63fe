package redisclient

import (
	"context"
	"time"
)

// The one backoff schedule of the package: the command retries
// (RetryPolicy.Backoff), a subscription reconnecting and a stream consumer
// reading or retrying a message all pause first·2^(n-1), capped.
//
// github.com/cenkalti/backoff/v5 (v5.0.3) was weighed for it and not taken:
// its ExponentialBackOff is a stateful object (one per retried call, not
// safe to share) whose n-th pause can only be reached by calling
// NextBackOff n times, while RetryPolicy.Backoff(n) is public and a pure
// function of n; and its jitter is symmetric (RandomizationFactor draws in
// [1-f, 1+f]), so pauses grow past their cap, which would break the
// worst-case latencies RetryPolicy documents (jitter here only shortens).
// With its randomization off, what remains is the few lines below.

// expBackoff returns the pause before try number n+1: first, doubled for
// each try after the first, capped at limit. It is 0 when n < 1 or first is
// not positive.
func expBackoff(first, limit time.Duration, n int) time.Duration {
	if first <= 0 || n < 1 {
		return 0
	}
	d := first
	for i := 1; i < n && d < limit; i++ {
		if d > limit/2 {
			return limit // doubling would pass the cap (or overflow)
		}
		d *= 2
	}
	return min(d, limit)
}

// reconnectPause is the pause of a long-running reader (a subscription, a
// stream consumer) after n consecutive errors: none after the first
// (go-redis has redialled already), then 50 ms doubling up to 1 s.
func reconnectPause(n int) time.Duration {
	return expBackoff(50*time.Millisecond, time.Second, n-1)
}

// sleepUnless pauses for d and reports whether the pause ran out before
// stop was closed. A pause of d <= 0 returns at once, false if stop is
// closed.
func sleepUnless(d time.Duration, stop <-chan struct{}) bool {
	if d <= 0 {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// sleepCtx pauses for d, or until ctx ends, whose error it then returns.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 || !sleepUnless(d, ctx.Done()) {
		return ctx.Err()
	}
	return nil
}
