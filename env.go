package redisclient

import (
	"cmp"
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/systemtrader/redisclient/internal/redact"
)

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
	// EnvDisableAutoPipeline turns auto-pipelining off when true.
	EnvDisableAutoPipeline = "REDIS_DISABLE_AUTO_PIPELINE"
	// The REDIS_TLS_* variables are listed with TLSOptions.

	// EnvLocalCache turns the near cache on (true) with the defaults of
	// LocalCacheOptions; any REDIS_LOCAL_CACHE_* variable turns it on too.
	EnvLocalCache = "REDIS_LOCAL_CACHE"
	// EnvLocalCacheMaxEntries sets LocalCacheOptions.MaxEntries.
	EnvLocalCacheMaxEntries = "REDIS_LOCAL_CACHE_MAX_ENTRIES"
	// EnvLocalCacheMaxBytes sets LocalCacheOptions.MaxBytes, in bytes.
	EnvLocalCacheMaxBytes = "REDIS_LOCAL_CACHE_MAX_BYTES"
	// EnvLocalCacheMaxStaleness sets LocalCacheOptions.MaxStaleness.
	EnvLocalCacheMaxStaleness = "REDIS_LOCAL_CACHE_MAX_STALENESS"
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
//	REDIS_DISABLE_AUTO_PIPELINE  true: no auto-pipelining (Options.DisableAutoPipeline)
//	REDIS_TLS                true: TLS with the system's roots (any REDIS_TLS_* turns TLS on)
//	REDIS_TLS_CA_FILE        PEM CA certificates that signed the server's certificate
//	REDIS_TLS_CERT_FILE      PEM client certificate (with REDIS_TLS_KEY_FILE), for mutual TLS
//	REDIS_TLS_KEY_FILE       PEM private key of the client certificate
//	REDIS_TLS_SERVER_NAME    name the server's certificate must carry, if not the host dialed
//	REDIS_TLS_INSECURE_SKIP_VERIFY  true: accept any server certificate (tests only; logged as a warning)
//	REDIS_LOCAL_CACHE        true: near cache on, with the defaults of LocalCacheOptions
//	REDIS_LOCAL_CACHE_MAX_ENTRIES    LocalCacheOptions.MaxEntries (turns the near cache on)
//	REDIS_LOCAL_CACHE_MAX_BYTES      LocalCacheOptions.MaxBytes, in bytes (turns it on)
//	REDIS_LOCAL_CACHE_MAX_STALENESS  LocalCacheOptions.MaxStaleness, Go duration or whole seconds (turns it on)
//
// Unset variables keep the defaults of Options. A malformed value is an error
// naming the variable; it never repeats a password.
func OptionsFromEnv() (Options, error) {
	return optionsFromLookup(os.LookupEnv)
}

func optionsFromLookup(lookup func(string) (string, bool)) (Options, error) {
	var o Options
	env := envReader{lookup}
	srv, err := env.server()
	if err != nil {
		return o, err
	}
	if err := srv.apply(&o); err != nil {
		return o, err
	}
	tlsOpts, err := tlsFromEnv(env)
	if err != nil {
		return o, err
	}
	o.TLS = tlsOpts
	o.Username = env.get(EnvUsername)
	o.Password, _ = lookup(EnvPassword) // passwords may legitimately have spaces
	o.SentinelPassword, _ = lookup(EnvSentinelPassword)
	o.Namespace = env.get(EnvNamespace)
	if o.LocalCache, err = env.localCache(); err != nil {
		return o, err
	}
	return o, env.tuning(&o)
}

// envReader reads the environment through lookup (os.LookupEnv, or a map in
// tests).
type envReader struct {
	lookup func(string) (string, bool)
}

// get returns the variable's value without surrounding spaces, "" if unset.
func (e envReader) get(name string) string {
	v, _ := e.lookup(name)
	return strings.TrimSpace(v)
}

// boolVar reads a true/false variable (as strconv.ParseBool spells it); set
// reports whether it is set at all.
func (e envReader) boolVar(name string) (v, set bool, err error) {
	s := e.get(name)
	if s == "" {
		return false, false, nil
	}
	v, err = strconv.ParseBool(s)
	if err != nil {
		return false, true, envError(name, s, "want true or false")
	}
	return v, true, nil
}

// envError says why the value of variable name is refused, without
// repeating a secret it may hold.
func envError(name, value, why string) error {
	return optionsError("environment variable %s=%q: %s", name, redact.Value(value), why)
}

// envServer holds the variables that say where Redis is; at most one of
// url, addr, host, clusterAddrs and master is set.
type envServer struct {
	url, addr, host, port, clusterAddrs, master, sentinels string
}

// server reads the variables that locate Redis and checks they do not
// conflict.
func (e envReader) server() (envServer, error) {
	s := envServer{
		url: e.get(EnvURL), addr: e.get(EnvAddr), host: e.get(EnvHost), port: e.get(EnvPort),
		clusterAddrs: e.get(EnvClusterAddrs), master: e.get(EnvSentinelMaster), sentinels: e.get(EnvSentinelAddrs),
	}
	var chosen []string
	for _, v := range []struct{ name, val string }{
		{EnvURL, s.url}, {EnvAddr, s.addr}, {EnvHost, s.host}, {EnvClusterAddrs, s.clusterAddrs}, {EnvSentinelMaster, s.master},
	} {
		if v.val != "" {
			chosen = append(chosen, v.name)
		}
	}
	if len(chosen) > 1 {
		return s, optionsError("environment variables %s conflict: set only one of them", strings.Join(chosen, " and "))
	}
	for name, v := range map[string]string{EnvAddr: s.addr, EnvHost: s.host, EnvClusterAddrs: s.clusterAddrs, EnvSentinelAddrs: s.sentinels} {
		if strings.Contains(v, "@") {
			return s, envError(name, v, "holds user info: credentials go in REDIS_USERNAME and REDIS_PASSWORD, URLs in REDIS_URL")
		}
	}
	if s.port != "" && (s.clusterAddrs != "" || s.master != "") {
		return s, optionsError("environment variables %s and %s conflict: set only one of them", EnvPort, chosen[0])
	}
	if s.port != "" && s.host == "" && s.addr == "" && s.url == "" {
		s.host = "localhost"
	}
	return s, nil
}

// apply sets the address fields of o from s.
func (s envServer) apply(o *Options) error {
	switch {
	case s.url != "":
		o.URL = s.url
		if _, err := url.Parse(s.url); err != nil {
			return urlError("environment variable "+EnvURL+": URL", s.url, func(v string) error { _, err := url.Parse(v); return err })
		}
	case s.addr != "":
		if _, _, err := net.SplitHostPort(s.addr); err != nil {
			return envError(EnvAddr, s.addr, "want host:port")
		}
		o.Addr = s.addr
	case s.host != "":
		port := cmp.Or(s.port, "6379")
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return envError(EnvPort, port, "want a port number 1-65535")
		}
		o.Addr = net.JoinHostPort(s.host, port)
	case s.clusterAddrs != "":
		o.Addrs = splitList(s.clusterAddrs)
		if err := checkHostPorts(EnvClusterAddrs, s.clusterAddrs, o.Addrs); err != nil {
			return err
		}
	case s.master != "":
		o.MasterName = s.master
		o.SentinelAddrs = splitList(s.sentinels)
		if len(o.SentinelAddrs) == 0 {
			return optionsError("environment variable %s is set but %s is empty", EnvSentinelMaster, EnvSentinelAddrs)
		}
		if err := checkHostPorts(EnvSentinelAddrs, s.sentinels, o.SentinelAddrs); err != nil {
			return err
		}
	}
	if s.sentinels != "" && s.master == "" {
		return optionsError("environment variable %s is set but %s is empty", EnvSentinelAddrs, EnvSentinelMaster)
	}
	return nil
}

// checkHostPorts refuses the list variable name (raw, split into addrs)
// unless every entry is host:port.
func checkHostPorts(name, raw string, addrs []string) error {
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return envError(name, raw, "want comma-separated host:port")
		}
	}
	return nil
}

// tuning sets the database, pool size, default TTL, auto-pipelining and
// namespace of o from their variables.
func (e envReader) tuning(o *Options) error {
	off, _, err := e.boolVar(EnvDisableAutoPipeline)
	if err != nil {
		return err
	}
	o.DisableAutoPipeline = off
	if v := e.get(EnvDB); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return envError(EnvDB, v, "want a database number >= 0")
		}
		o.DB = n
	}
	if v := e.get(EnvPoolSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return envError(EnvPoolSize, v, "want a positive number of connections")
		}
		o.PoolSize = n
	}
	if v := e.get(EnvDefaultTTL); v != "" {
		d, err := parseSecondsOrDuration(v)
		if err != nil {
			return envError(EnvDefaultTTL, v, "want a Go duration such as 90s or 1h, or whole seconds")
		}
		o.DefaultTTL = d
	}
	if o.Namespace != "" {
		return validateNamespacePart(EnvNamespace, o.Namespace, DefaultSeparator)
	}
	return nil
}

// localCache reads the REDIS_LOCAL_CACHE* variables: nil when none is set.
// REDIS_LOCAL_CACHE=false beside a bound is a conflict, not a silent off.
func (e envReader) localCache() (*LocalCacheOptions, error) {
	var lo LocalCacheOptions
	var bounds []string
	for _, n := range []struct {
		name string
		set  func(int64)
	}{
		{EnvLocalCacheMaxEntries, func(v int64) { lo.MaxEntries = int(v) }},
		{EnvLocalCacheMaxBytes, func(v int64) { lo.MaxBytes = v }},
	} {
		v := e.get(n.name)
		if v == "" {
			continue
		}
		bounds = append(bounds, n.name)
		x, err := strconv.ParseInt(v, 10, 0)
		if err != nil || x < 1 {
			return nil, envError(n.name, v, "want a positive whole number")
		}
		n.set(x)
	}
	if v := e.get(EnvLocalCacheMaxStaleness); v != "" {
		bounds = append(bounds, EnvLocalCacheMaxStaleness)
		d, err := parseSecondsOrDuration(v)
		if err != nil || d < time.Millisecond {
			return nil, envError(EnvLocalCacheMaxStaleness, v, "want a Go duration of at least 1ms, such as 500ms or 5s, or whole seconds")
		}
		lo.MaxStaleness = d
	}
	on := len(bounds) > 0
	switch b, set, err := e.boolVar(EnvLocalCache); {
	case err != nil:
		return nil, err
	case set && !b && on:
		return nil, optionsError("environment variables %s=false and %s conflict: unset one of them", EnvLocalCache, bounds[0])
	case set:
		on = b
	}
	if !on {
		return nil, nil
	}
	return &lo, nil
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
