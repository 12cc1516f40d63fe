package redisclient

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults applied by New to zero fields of Options.
const (
	DefaultAddr         = "localhost:6379"
	DefaultNamespace    = "trading"
	DefaultSeparator    = ":"
	DefaultTTL          = 24 * time.Hour
	DefaultDialTimeout  = time.Second
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = time.Second
)

// Options configures a Client. The zero value is valid: it means a standalone
// server at localhost:6379, DB 0, namespace "trading", msgpack values and a
// 24 h default TTL.
//
// The deployment is chosen from the fields that are set: MasterName (with
// SentinelAddrs) selects Sentinel, ClusterMode or Addrs selects Redis Cluster,
// anything else a single server at Addr (or URL). Setting fields of two
// deployments at once is an error naming them.
type Options struct {
	// URL is a redis:// or rediss:// URL (user, password, host, port, DB and
	// go-redis query parameters such as dial_timeout). With ClusterMode it may
	// list more seeds as addr= query parameters. Mutually exclusive with Addr.
	// Credentials in the URL win over Username and Password.
	URL string
	// Addr is the host:port of a standalone server. Default "localhost:6379".
	Addr string
	// Addrs are the seed nodes of a Redis Cluster. Setting it selects cluster
	// mode.
	Addrs []string
	// ClusterMode forces cluster mode even with a single seed address.
	ClusterMode bool
	// MasterName selects Sentinel mode: the name of the monitored master.
	MasterName string
	// SentinelAddrs are the host:port addresses of the sentinels.
	SentinelAddrs []string
	// SentinelUsername and SentinelPassword authenticate to the sentinels
	// (not to the master, which uses Username and Password).
	SentinelUsername string
	SentinelPassword string

	// Username and Password authenticate with AUTH (ACL username optional).
	Username string
	Password string
	// DB is the database number of a standalone or Sentinel server. Redis
	// Cluster only has DB 0.
	DB int
	// TLSConfig enables TLS when non-nil (rediss:// URLs set it).
	TLSConfig *tls.Config
	// TLS configures TLS from PEM files (a private CA, a client certificate),
	// as the REDIS_TLS_* environment variables do; see TLSOptions.
	TLS TLSOptions

	// PoolSize is the maximum number of connections per node. 0 means
	// go-redis's default of 10 per GOMAXPROCS.
	PoolSize int
	// MinIdleConns keeps that many idle connections open. Default 0.
	MinIdleConns int
	// DialTimeout bounds establishing a connection. Default 1 s.
	DialTimeout time.Duration
	// ReadTimeout bounds reading a reply. Default 1 s; -1 means no timeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a command. Default 1 s; -1 means no timeout.
	WriteTimeout time.Duration

	// Namespace prefixes every key and channel. Default "trading".
	Namespace string
	// Separator joins the namespace and key parts. Default ":".
	Separator string
	// DefaultTTL is the expiry used when a write passes ttl 0. Default 24 h;
	// NoExpiry means keys written with ttl 0 never expire.
	DefaultTTL time.Duration
	// TTLJitter spreads expiries of keys written together: each TTL is
	// shortened by a random fraction in [0, TTLJitter). 0 (the default) turns
	// jitter off; it must be below 1.
	TTLJitter float64
	// Serializer encodes values other than []byte, string and numbers.
	// Default MsgpackSerializer.
	Serializer Serializer
	// HashMode selects the digest of HashInput. Default HashSHA256.
	HashMode HashMode

	// Retry is the retry policy for commands that failed on the network or
	// with a transient server error. The zero value means the defaults
	// documented on RetryPolicy.
	Retry RetryPolicy
	// Breaker configures the circuit breaker. The zero value means the
	// defaults documented on BreakerOptions.
	Breaker BreakerOptions

	// PubSub holds the defaults of Subscribe and PSubscribe (buffer size,
	// overflow policy, concurrency, callbacks, close timeout); SubscribeWith
	// and PSubscribeWith fall back on it for their zero fields. The zero
	// value means the defaults documented on SubscribeOptions.
	PubSub SubscribeOptions

	// CloseTimeout bounds how long Close waits for GetOrSet and
	// GetOrComputePrediction loads still running, after cancelling their
	// context. 0 means DefaultCloseTimeout (5 s); a negative value is an
	// error. Subscriptions have their own, PubSub.CloseTimeout.
	CloseTimeout time.Duration

	// Logger receives warnings such as a cache write that failed open. nil
	// discards them.
	Logger *slog.Logger

	// TracerProvider receives the spans of every command (through redisotel,
	// per cluster node) and of GetOrSet and its loads. nil means the otel
	// global provider as installed when New runs; with none installed no
	// span is made and commands pay nothing. Spans never carry values or
	// passwords; keys only with TraceKeys.
	TracerProvider trace.TracerProvider
	// MeterProvider receives the redisclient.* instruments and redisotel's
	// command and pool metrics. nil means the otel global provider. The
	// redisclient.* instruments are observable and follow the global
	// provider even when it is installed after New; command metrics are
	// installed only when a provider is set when New runs.
	MeterProvider metric.MeterProvider
	// TraceKeys adds the key to spans: db.redis.key (the first key) on
	// command spans, redisclient.key on GetOrSet spans. Off by default, as
	// keys may name accounts or orders.
	TraceKeys bool

	// DisableAutoPipeline turns adaptive auto-pipelining off. By default,
	// while several commands of the client are in flight at once, the
	// commands that are safe to batch (idempotent reads and writes of plain
	// data, small arguments) are sent together, one go-redis pipeline per
	// server or cluster master, instead of one round trip each; a lone
	// caller keeps the direct path. Retries, the circuit breaker, contexts
	// and errors behave as for a command sent alone; see "Auto-pipelining"
	// in the README.
	DisableAutoPipeline bool

	// LocalCache turns on the near cache (decoded values in process,
	// invalidated by Redis); nil, the default, leaves it off. See
	// LocalCacheOptions.
	LocalCache *LocalCacheOptions
}

// deployment is the kind of Redis setup the options describe.
type deployment int

const (
	standalone deployment = iota
	cluster
	sentinel
)

func (d deployment) String() string {
	switch d {
	case cluster:
		return "cluster"
	case sentinel:
		return "sentinel"
	default:
		return "standalone"
	}
}

func optionsError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...)
}

// withDefaults validates o and returns a copy with defaults filled in and the
// URL, if any, merged into the address and credential fields.
func (o Options) withDefaults() (Options, error) {
	if err := o.resolveServer(); err != nil {
		return o, err
	}
	o.fillDefaults()
	if err := o.validate(); err != nil {
		return o, err
	}
	if o.LocalCache != nil {
		lo, err := o.LocalCache.withDefaults()
		if err != nil {
			return o, err
		}
		o.LocalCache = &lo
	}
	return o, nil
}

// resolveServer merges the URL into the address, credential and TLS fields
// and checks that the fields name one deployment and carry no user info.
func (o *Options) resolveServer() error {
	callerTLS := o.TLSConfig != nil
	if o.URL != "" {
		if o.Addr != "" || len(o.Addrs) > 0 {
			return optionsError("URL and Addr/Addrs are both set; use one")
		}
		if o.MasterName != "" {
			return optionsError("URL and MasterName are both set: Sentinel finds the master itself")
		}
		if err := o.mergeURL(); err != nil {
			return err
		}
	}
	if err := o.applyTLS(o.TLSConfig != nil && !callerTLS, o.URL != "" && o.TLSConfig == nil); err != nil {
		return err
	}
	if _, err := o.deployment(); err != nil {
		return err
	}
	return o.checkNoUserInfo()
}

// fillDefaults sets the zero fields that have a default.
func (o *Options) fillDefaults() {
	if o.Addr == "" && len(o.Addrs) == 0 && o.MasterName == "" {
		o.Addr = DefaultAddr
	}
	o.Namespace = cmp.Or(o.Namespace, DefaultNamespace)
	o.Separator = cmp.Or(o.Separator, DefaultSeparator)
	if o.Serializer == nil {
		o.Serializer = MsgpackSerializer{}
	}
	o.DialTimeout = cmp.Or(o.DialTimeout, DefaultDialTimeout)
	o.ReadTimeout = cmp.Or(o.ReadTimeout, DefaultReadTimeout)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, DefaultWriteTimeout)
	o.DefaultTTL = cmp.Or(o.DefaultTTL, DefaultTTL)
	o.CloseTimeout = cmp.Or(o.CloseTimeout, DefaultCloseTimeout)
}

// validate checks the fields once defaults are filled in, reporting the
// first that is out of range.
func (o *Options) validate() error {
	switch {
	case o.DefaultTTL != NoExpiry && o.DefaultTTL < time.Millisecond:
		return optionsError("DefaultTTL %v: must be at least 1ms, or NoExpiry", o.DefaultTTL)
	case o.CloseTimeout < 0:
		return optionsError("CloseTimeout %v: must not be negative", o.CloseTimeout)
	case o.TTLJitter < 0 || o.TTLJitter >= 1:
		return optionsError("TTLJitter %v: must be in [0, 1)", o.TTLJitter)
	case o.DB < 0:
		return optionsError("DB %d: must not be negative", o.DB)
	case o.PoolSize < 0:
		return optionsError("PoolSize %d: must not be negative", o.PoolSize)
	case o.MinIdleConns < 0 || (o.PoolSize > 0 && o.MinIdleConns > o.PoolSize):
		return optionsError("MinIdleConns %d: must be between 0 and PoolSize", o.MinIdleConns)
	}
	for _, check := range []func() error{o.validateTimeouts, o.validateNamespace,
		o.HashMode.validate, o.Retry.validate, o.Breaker.validate, o.PubSub.validate} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (o *Options) validateTimeouts() error {
	for name, d := range map[string]time.Duration{"DialTimeout": o.DialTimeout, "ReadTimeout": o.ReadTimeout, "WriteTimeout": o.WriteTimeout} {
		if d < 0 && !(d == -1 && name != "DialTimeout") {
			return optionsError("%s %v: must be positive (or -1 for no timeout on reads and writes)", name, d)
		}
	}
	return nil
}

func (o *Options) validateNamespace() error {
	return validateNamespacePart("Namespace", o.Namespace, o.Separator)
}

// deployment tells which Redis setup the options select, or why they conflict.
func (o *Options) deployment() (deployment, error) {
	var set []string
	if o.MasterName != "" || len(o.SentinelAddrs) > 0 {
		if o.MasterName == "" || len(o.SentinelAddrs) == 0 {
			return 0, optionsError("Sentinel needs both MasterName and SentinelAddrs")
		}
		set = append(set, "MasterName/SentinelAddrs")
	}
	if o.ClusterMode || len(o.Addrs) > 0 {
		set = append(set, "ClusterMode/Addrs")
	}
	if len(set) > 1 {
		return 0, optionsError("%s conflict: choose Sentinel or Cluster", strings.Join(set, " and "))
	}
	switch {
	case o.MasterName != "":
		if o.Addr != "" {
			return 0, optionsError("Addr and MasterName are both set: Sentinel finds the master itself")
		}
		return sentinel, nil
	case o.ClusterMode || len(o.Addrs) > 0:
		if o.Addr != "" && len(o.Addrs) > 0 {
			return 0, optionsError("Addr and Addrs are both set: list every cluster seed in Addrs")
		}
		if o.DB != 0 {
			return 0, optionsError("DB %d: Redis Cluster only has DB 0", o.DB)
		}
		return cluster, nil
	}
	return standalone, nil
}

// mergeURL parses o.URL into the connection fields it carries. The URL may hold
// a password, so errors never include it.
func (o *Options) mergeURL() error {
	ro, co, err := parseURL(o.URL, o.ClusterMode)
	if err != nil {
		return err
	}
	if co != nil {
		o.Addrs = co.Addrs
		o.Username, o.Password = cmp.Or(co.Username, o.Username), cmp.Or(co.Password, o.Password)
		if o.TLSConfig == nil {
			o.TLSConfig = co.TLSConfig
		}
		o.mergeTimeouts(co.DialTimeout, co.ReadTimeout, co.WriteTimeout, co.PoolSize, co.MinIdleConns)
		return nil
	}
	if ro.Network == "unix" {
		o.Addr = "unix:" + ro.Addr
	} else {
		o.Addr = ro.Addr
	}
	o.Username, o.Password = cmp.Or(ro.Username, o.Username), cmp.Or(ro.Password, o.Password)
	if o.DB == 0 {
		o.DB = ro.DB
	}
	if o.TLSConfig == nil {
		o.TLSConfig = ro.TLSConfig
	}
	o.mergeTimeouts(ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolSize, ro.MinIdleConns)
	return nil
}

// mergeTimeouts fills the timeouts and pool sizes the caller left zero with
// the URL's.
func (o *Options) mergeTimeouts(dial, read, write time.Duration, pool, idle int) {
	o.DialTimeout = cmp.Or(o.DialTimeout, dial)
	o.ReadTimeout = cmp.Or(o.ReadTimeout, read)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, write)
	o.PoolSize = cmp.Or(o.PoolSize, pool)
	o.MinIdleConns = cmp.Or(o.MinIdleConns, idle)
}

// universal maps validated options onto go-redis. Retries are disabled there:
// the client's retry hook knows which commands are safe to repeat.
func (o *Options) universal() *redis.UniversalOptions {
	uo := &redis.UniversalOptions{
		Username:         o.Username,
		Password:         o.Password,
		DB:               o.DB,
		TLSConfig:        o.TLSConfig,
		PoolSize:         o.PoolSize,
		MinIdleConns:     o.MinIdleConns,
		DialTimeout:      o.DialTimeout,
		ReadTimeout:      o.ReadTimeout,
		WriteTimeout:     o.WriteTimeout,
		MasterName:       o.MasterName,
		SentinelUsername: o.SentinelUsername,
		SentinelPassword: o.SentinelPassword,
	}
	o.Retry.apply(uo)
	d, _ := o.deployment()
	switch d {
	case sentinel:
		uo.Addrs = o.SentinelAddrs
	case cluster:
		uo.IsClusterMode = true
		uo.Addrs = o.Addrs
		if len(uo.Addrs) == 0 {
			uo.Addrs = []string{o.Addr}
		}
	default:
		uo.Addrs = []string{o.Addr}
		if addr, ok := strings.CutPrefix(o.Addr, "unix:"); ok {
			uo.Addrs = []string{addr}
			uo.Dialer = func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", addr)
			}
		}
	}
	return uo
}
