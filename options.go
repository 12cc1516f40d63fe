package redisclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient/internal/redact"
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
	callerTLS := o.TLSConfig != nil
	if o.URL != "" {
		if o.Addr != "" || len(o.Addrs) > 0 {
			return o, optionsError("URL and Addr/Addrs are both set; use one")
		}
		if o.MasterName != "" {
			return o, optionsError("URL and MasterName are both set: Sentinel finds the master itself")
		}
		if err := o.mergeURL(); err != nil {
			return o, err
		}
	}
	if err := o.applyTLS(o.TLSConfig != nil && !callerTLS, o.URL != "" && o.TLSConfig == nil); err != nil {
		return o, err
	}
	if _, err := o.deployment(); err != nil {
		return o, err
	}
	if err := o.checkNoUserInfo(); err != nil {
		return o, err
	}
	if o.Addr == "" && len(o.Addrs) == 0 && o.MasterName == "" {
		o.Addr = DefaultAddr
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Separator == "" {
		o.Separator = DefaultSeparator
	}
	if o.Serializer == nil {
		o.Serializer = MsgpackSerializer{}
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	switch {
	case o.DefaultTTL == 0:
		o.DefaultTTL = DefaultTTL
	case o.DefaultTTL == NoExpiry:
	case o.DefaultTTL < time.Millisecond:
		return o, optionsError("DefaultTTL %v: must be at least 1ms, or NoExpiry", o.DefaultTTL)
	}
	switch {
	case o.CloseTimeout == 0:
		o.CloseTimeout = DefaultCloseTimeout
	case o.CloseTimeout < 0:
		return o, optionsError("CloseTimeout %v: must not be negative", o.CloseTimeout)
	}
	if o.TTLJitter < 0 || o.TTLJitter >= 1 {
		return o, optionsError("TTLJitter %v: must be in [0, 1)", o.TTLJitter)
	}
	if o.DB < 0 {
		return o, optionsError("DB %d: must not be negative", o.DB)
	}
	if o.PoolSize < 0 {
		return o, optionsError("PoolSize %d: must not be negative", o.PoolSize)
	}
	if o.MinIdleConns < 0 || (o.PoolSize > 0 && o.MinIdleConns > o.PoolSize) {
		return o, optionsError("MinIdleConns %d: must be between 0 and PoolSize", o.MinIdleConns)
	}
	for name, d := range map[string]time.Duration{"DialTimeout": o.DialTimeout, "ReadTimeout": o.ReadTimeout, "WriteTimeout": o.WriteTimeout} {
		if d < 0 && !(d == -1 && name != "DialTimeout") {
			return o, optionsError("%s %v: must be positive (or -1 for no timeout on reads and writes)", name, d)
		}
	}
	if err := validateNamespacePart("Namespace", o.Namespace, o.Separator); err != nil {
		return o, err
	}
	if err := o.HashMode.validate(); err != nil {
		return o, err
	}
	if err := o.Retry.validate(); err != nil {
		return o, err
	}
	if err := o.Breaker.validate(); err != nil {
		return o, err
	}
	if err := o.PubSub.validate(); err != nil {
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
	if err := checkURL(o.URL, o.ClusterMode); err != nil {
		return err
	}
	if o.ClusterMode {
		co, err := redis.ParseClusterURL(o.URL)
		if err != nil { // checkURL saw it parse: never reached
			return optionsError("URL %s: malformed", redact.URL(o.URL))
		}
		o.Addrs = co.Addrs
		o.Username, o.Password = firstNonEmpty(co.Username, o.Username), firstNonEmpty(co.Password, o.Password)
		if o.TLSConfig == nil {
			o.TLSConfig = co.TLSConfig
		}
		o.mergeTimeouts(co.DialTimeout, co.ReadTimeout, co.WriteTimeout, co.PoolSize, co.MinIdleConns)
		return nil
	}
	ro, err := redis.ParseURL(o.URL)
	if err != nil { // checkURL saw it parse: never reached
		return optionsError("URL %s: malformed", redact.URL(o.URL))
	}
	if ro.Network == "unix" {
		o.Addr = "unix:" + ro.Addr
	} else {
		o.Addr = ro.Addr
	}
	o.Username, o.Password = firstNonEmpty(ro.Username, o.Username), firstNonEmpty(ro.Password, o.Password)
	if o.DB == 0 {
		o.DB = ro.DB
	}
	if o.TLSConfig == nil {
		o.TLSConfig = ro.TLSConfig
	}
	o.mergeTimeouts(ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolSize, ro.MinIdleConns)
	return nil
}

func (o *Options) mergeTimeouts(dial, read, write time.Duration, pool, idle int) {
	if o.DialTimeout == 0 {
		o.DialTimeout = dial
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = read
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = write
	}
	if o.PoolSize == 0 {
		o.PoolSize = pool
	}
	if o.MinIdleConns == 0 {
		o.MinIdleConns = idle
	}
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

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Environment variables read by OptionsFromEnv.
const (
	EnvURL              = "REDIS_URL"
	EnvAddr             = "REDIS_ADDR"
	EnvHost             = "REDIS_HOST"
	EnvPort             = "REDIS_PORT"
	EnvUsername         = "REDIS_USERNAME"
	EnvPassword         = "REDIS_PASSWORD"
	EnvDB               = "REDIS_DB"
	EnvNamespace        = "REDIS_NAMESPACE"
	EnvDefaultTTL       = "REDIS_DEFAULT_TTL"
	EnvPoolSize         = "REDIS_POOL_SIZE"
	EnvClusterAddrs     = "REDIS_CLUSTER_ADDRS"
	EnvSentinelMaster   = "REDIS_SENTINEL_MASTER"
	EnvSentinelAddrs    = "REDIS_SENTINEL_ADDRS"
	EnvSentinelPassword = "REDIS_SENTINEL_PASSWORD"
	// The REDIS_TLS_* variables are listed with TLSOptions.
)

// OptionsFromEnv builds Options from the environment:
//
//	REDIS_URL                redis:// or rediss:// URL with user, password and DB
//	REDIS_ADDR               host:port (instead of REDIS_URL)
//	REDIS_HOST, REDIS_PORT   host and port (instead of REDIS_ADDR); port default 6379
//	REDIS_USERNAME           ACL username
//	REDIS_PASSWORD           password (when REDIS_URL carries none)
//	REDIS_DB                 database number
//	REDIS_NAMESPACE          key namespace, default "trading"
//	REDIS_DEFAULT_TTL        Go duration ("90s", "1h") or whole seconds ("86400")
//	REDIS_POOL_SIZE          connections per node
//	REDIS_CLUSTER_ADDRS      comma-separated cluster seeds (selects Redis Cluster)
//	REDIS_SENTINEL_MASTER    master name (selects Sentinel, with REDIS_SENTINEL_ADDRS)
//	REDIS_SENTINEL_ADDRS     comma-separated sentinel addresses
//	REDIS_SENTINEL_PASSWORD  sentinel password
//	REDIS_TLS                true: TLS with the system's roots (any REDIS_TLS_* turns TLS on)
//	REDIS_TLS_CA_FILE        PEM CA certificates that signed the server's certificate
//	REDIS_TLS_CERT_FILE      PEM client certificate (with REDIS_TLS_KEY_FILE), for mutual TLS
//	REDIS_TLS_KEY_FILE       PEM private key of the client certificate
//	REDIS_TLS_SERVER_NAME    name the server's certificate must carry, if not the host dialed
//	REDIS_TLS_INSECURE_SKIP_VERIFY  true: accept any server certificate (tests only; logged as a warning)
//
// Unset variables keep the defaults of Options. A malformed value is an error
// naming the variable; it never repeats a password.
func OptionsFromEnv() (Options, error) {
	return optionsFromLookup(os.LookupEnv)
}

func optionsFromLookup(lookup func(string) (string, bool)) (Options, error) {
	var o Options
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	bad := func(name, value, why string) error {
		return optionsError("environment variable %s=%q: %s", name, redact.Value(value), why)
	}

	rawURL, addr, host, port := get(EnvURL), get(EnvAddr), get(EnvHost), get(EnvPort)
	clusterAddrs, master, sentinels := get(EnvClusterAddrs), get(EnvSentinelMaster), get(EnvSentinelAddrs)
	var chosen []string
	for _, v := range []struct{ name, val string }{
		{EnvURL, rawURL}, {EnvAddr, addr}, {EnvHost, host}, {EnvClusterAddrs, clusterAddrs}, {EnvSentinelMaster, master},
	} {
		if v.val != "" {
			chosen = append(chosen, v.name)
		}
	}
	if len(chosen) > 1 {
		return o, optionsError("environment variables %s conflict: set only one of them", strings.Join(chosen, " and "))
	}
	for name, v := range map[string]string{EnvAddr: addr, EnvHost: host, EnvClusterAddrs: clusterAddrs, EnvSentinelAddrs: sentinels} {
		if strings.Contains(v, "@") {
			return o, bad(name, v, "holds user info: credentials go in REDIS_USERNAME and REDIS_PASSWORD, URLs in REDIS_URL")
		}
	}
	if port != "" && (clusterAddrs != "" || master != "") {
		return o, optionsError("environment variables %s and %s conflict: set only one of them", EnvPort, chosen[0])
	}
	if port != "" && host == "" && addr == "" && rawURL == "" {
		host = "localhost"
	}

	switch {
	case rawURL != "":
		o.URL = rawURL
		if _, err := url.Parse(rawURL); err != nil {
			return o, urlError("environment variable "+EnvURL+": URL", rawURL, func(s string) error { _, err := url.Parse(s); return err })
		}
	case addr != "":
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return o, bad(EnvAddr, addr, "want host:port")
		}
		o.Addr = addr
	case host != "":
		if port == "" {
			port = "6379"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return o, bad(EnvPort, port, "want a port number 1-65535")
		}
		o.Addr = net.JoinHostPort(host, port)
	case clusterAddrs != "":
		o.Addrs = splitList(clusterAddrs)
		for _, a := range o.Addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return o, bad(EnvClusterAddrs, clusterAddrs, "want comma-separated host:port")
			}
		}
	case master != "":
		o.MasterName = master
		o.SentinelAddrs = splitList(sentinels)
		if len(o.SentinelAddrs) == 0 {
			return o, optionsError("environment variable %s is set but %s is empty", EnvSentinelMaster, EnvSentinelAddrs)
		}
		for _, a := range o.SentinelAddrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return o, bad(EnvSentinelAddrs, sentinels, "want comma-separated host:port")
			}
		}
	}
	if sentinels != "" && master == "" {
		return o, optionsError("environment variable %s is set but %s is empty", EnvSentinelAddrs, EnvSentinelMaster)
	}

	tlsOpts, err := tlsFromEnv(get)
	if err != nil {
		return o, err
	}
	o.TLS = tlsOpts
	o.Username = get(EnvUsername)
	o.Password, _ = lookup(EnvPassword) // passwords may legitimately have spaces
	o.SentinelPassword, _ = lookup(EnvSentinelPassword)
	o.Namespace = get(EnvNamespace)
	if v := get(EnvDB); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return o, bad(EnvDB, v, "want a database number >= 0")
		}
		o.DB = n
	}
	if v := get(EnvPoolSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, bad(EnvPoolSize, v, "want a positive number of connections")
		}
		o.PoolSize = n
	}
	if v := get(EnvDefaultTTL); v != "" {
		d, err := parseSecondsOrDuration(v)
		if err != nil {
			return o, bad(EnvDefaultTTL, v, "want a Go duration such as 90s or 1h, or whole seconds")
		}
		o.DefaultTTL = d
	}
	if o.Namespace != "" {
		if err := validateNamespacePart(EnvNamespace, o.Namespace, DefaultSeparator); err != nil {
			return o, err
		}
	}
	return o, nil
}

func parseSecondsOrDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 || n > int64(1<<63-1)/int64(time.Second) {
			return 0, errors.New("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("not a positive duration")
	}
	return d, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
