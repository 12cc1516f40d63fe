package redisclient

import (
	"context"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// RetryPolicy (placeholder until the resilience work lands).
type RetryPolicy struct {
	Attempts   int
	MinBackoff time.Duration
	MaxBackoff time.Duration
	Jitter     float64
}

func (p RetryPolicy) validate() error { return nil }

func (p RetryPolicy) apply(uo *redis.UniversalOptions) { uo.MaxRetries = -1 }

// BreakerOptions (placeholder until the resilience work lands).
type BreakerOptions struct{}

func (BreakerOptions) validate() error { return nil }

type breaker struct{}

func newBreaker(BreakerOptions) *breaker { return &breaker{} }

type resilienceHook struct{}

func newResilienceHook(RetryPolicy, *breaker) redis.Hook { return resilienceHook{} }

func (resilienceHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (resilienceHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (resilienceHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

var _ = context.Background
var _ net.Conn
