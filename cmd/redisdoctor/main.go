// Command redisdoctor checks the Redis server that redisclient is configured
// to use and says what to fix.
//
// It reads the same environment variables as the library (REDIS_URL,
// REDIS_ADDR, REDIS_HOST/REDIS_PORT, REDIS_PASSWORD, REDIS_CLUSTER_ADDRS,
// REDIS_SENTINEL_MASTER, REDIS_TLS_CA_FILE, ...; see
// redisclient.OptionsFromEnv) and prints one verdict per check: reachable,
// auth, tls, latency, server (version and role), memory, eviction-policy,
// evicted-keys, persistence, slowlog, clients, and cluster on a Redis
// Cluster. Every WARN and FAIL comes with the fix.
//
// Usage:
//
//	redisdoctor [--url redis://host:port/db] [--timeout 5s] [--json] [--watch N]
//	            [--tls-ca-file FILE] [--tls-cert-file FILE --tls-key-file FILE]
//	            [--tls-server-name NAME] [--tls-insecure-skip-verify]
//
// Exit codes: 0 healthy (warnings allowed), 1 unhealthy (a check failed),
// 2 usage or configuration error, 130 interrupted before a round completed.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient"
	"github.com/systemtrader/redisclient/internal/redact"
)

// Exit codes.
const (
	exitHealthy     = 0
	exitUnhealthy   = 1
	exitUsage       = 2
	exitInterrupted = 130
)

const defaultTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usageText = `Usage: redisdoctor [flags]

Checks the Redis server configured for redisclient and prints a verdict per
check (OK, WARN, FAIL; SKIP when a check could not run) with the fix for
every WARN and FAIL.

The server comes from the library's environment variables: REDIS_URL, or
REDIS_ADDR, or REDIS_HOST and REDIS_PORT, or REDIS_CLUSTER_ADDRS, or
REDIS_SENTINEL_MASTER with REDIS_SENTINEL_ADDRS; credentials from the URL or
REDIS_USERNAME and REDIS_PASSWORD; TLS from rediss:// or REDIS_TLS_CA_FILE,
REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE, REDIS_TLS_SERVER_NAME, REDIS_TLS and
REDIS_TLS_INSECURE_SKIP_VERIFY (the --tls-* flags override them). With none
set: localhost:6379. Run it as an operator ACL user (deploy/users.conf,
redisdoctor) to see everything without giving services more rights.

Flags:
`

const exitText = `
Exit codes: 0 healthy (warnings allowed), 1 unhealthy (a check failed),
2 usage or configuration error, 130 interrupted before the first round ended.
With --watch, the exit code is that of the last complete round.
`

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// config is the parsed command line.
type config struct {
	url     string
	timeout time.Duration
	json    bool
	watch   time.Duration
	tls     tlsFlags
}

// run is the whole program: it parses args, checks Redis once or every
// --watch interval until ctx is cancelled, prints to stdout and stderr, and
// returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// go-redis logs failed dials itself; the report already says it better.
	redis.SetLogger(quietLogger{})
	cfg, code, ok := parseFlags(args, stdout, stderr)
	if !ok {
		return code
	}
	configErr := func(err error) int {
		msg := err.Error()
		if cfg.tls.any() {
			msg = flagNames.Replace(msg)
		}
		fmt.Fprintf(stderr, "redisdoctor: configuration: %s\n", msg)
		return exitUsage
	}
	opts, err := options(cfg)
	if err != nil {
		return configErr(err)
	}

	last := -1
	for round := 0; ; round++ {
		if round > 0 {
			t := time.NewTimer(cfg.watch)
			select {
			case <-ctx.Done():
				t.Stop()
				return last
			case <-t.C:
			}
		}
		rep, err := check(ctx, opts, cfg.timeout)
		if err != nil && round == 0 {
			// New refused the options (a missing certificate file too): a
			// configuration error, exit 2, even when interrupted.
			return configErr(err)
		}
		if ctx.Err() != nil {
			// Interrupted during the round: its results are meaningless.
			if last < 0 {
				fmt.Fprintln(stderr, "redisdoctor: interrupted")
				return exitInterrupted
			}
			return last
		}
		if err != nil {
			fmt.Fprintf(stderr, "redisdoctor: %v\n", err)
			return exitUsage
		}
		if err := write(stdout, rep, cfg, round); err != nil {
			fmt.Fprintf(stderr, "redisdoctor: writing the report: %v\n", err)
			return exitUnhealthy
		}
		last = rep.ExitCode
		if cfg.watch == 0 {
			return last
		}
	}
}

func parseFlags(args []string, stdout, stderr io.Writer) (cfg config, code int, ok bool) {
	fs := flag.NewFlagSet("redisdoctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.url, "url", "", "Redis `URL` (redis://[user:password@]host:port/db or rediss://...), instead of the environment's server")
	fs.DurationVar(&cfg.timeout, "timeout", defaultTimeout, "time limit of one round of checks")
	fs.BoolVar(&cfg.json, "json", false, "print a JSON document instead of the text report (one line per round with --watch)")
	watch := fs.String("watch", "", "repeat the checks every `N` seconds (or a Go duration such as 500ms) until interrupted")
	cfg.tls.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), exitText)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return cfg, exitHealthy, false
		}
		return cfg, exitUsage, false
	}
	cfg.tls.set = make(map[string]bool)
	fs.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "tls-") {
			cfg.tls.set[f.Name] = true
		}
	})
	usageErr := func(format string, a ...any) (config, int, bool) {
		fmt.Fprintf(stderr, "redisdoctor: "+format+"\n", a...)
		fmt.Fprintln(stderr, "Run 'redisdoctor --help' for usage.")
		return cfg, exitUsage, false
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if cfg.timeout <= 0 {
		return usageErr("--timeout %v: must be positive", cfg.timeout)
	}
	if *watch != "" {
		d, err := parseInterval(*watch)
		if err != nil {
			return usageErr("--watch %q: %v", *watch, err)
		}
		cfg.watch = d
	}
	return cfg, 0, true
}

// parseInterval reads whole or fractional seconds ("5", "0.5") or a Go
// duration ("500ms", "1m").
func parseInterval(s string) (time.Duration, error) {
	var d time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, errors.New("want a number of seconds or a duration such as 500ms")
	}
	if d < 100*time.Millisecond {
		return 0, errors.New("must be at least 100ms")
	}
	return d, nil
}

// options returns the library's options from the environment, with the
// server replaced by --url when given. Credentials in the URL take the place
// of REDIS_USERNAME and REDIS_PASSWORD.
func options(cfg config) (redisclient.Options, error) {
	opts, err := redisclient.OptionsFromEnv()
	if err != nil {
		return opts, err
	}
	plainURL := false
	if cfg.url != "" {
		u, err := url.Parse(cfg.url)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			return opts, fmt.Errorf("--url: want redis://host:port/db, rediss://... or unix:///path (got %s)", redact.URL(cfg.url))
		}
		opts.URL = cfg.url
		plainURL = u.Scheme != "rediss"
		opts.Addr, opts.Addrs, opts.ClusterMode = "", nil, false
		opts.MasterName, opts.SentinelAddrs = "", nil
		if u.User != nil {
			opts.Username = ""
			if _, ok := u.User.Password(); ok {
				opts.Password = ""
			}
		}
	}
	cfg.tls.apply(&opts, plainURL)
	// The doctor reports Redis as it is: one attempt per command, no breaker.
	opts.Retry = redisclient.RetryPolicy{Attempts: 1}
	opts.Breaker = redisclient.BreakerOptions{Threshold: -1}
	return opts, nil
}

// check runs one round on a new client, so that connecting is measured
// every time, bounded by timeout. Its error is New's: the options are
// refused.
func check(ctx context.Context, opts redisclient.Options, timeout time.Duration) (Report, error) {
	c, err := redisclient.New(opts)
	if err != nil {
		return Report{}, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return diagnose(ctx, c, opts), nil
}

func write(w io.Writer, rep Report, cfg config, round int) error {
	if cfg.json {
		enc := json.NewEncoder(w)
		if cfg.watch == 0 {
			enc.SetIndent("", "  ")
		}
		return enc.Encode(rep)
	}
	if round > 0 {
		if _, err := fmt.Fprintln(w); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, renderText(rep))
	return err
}
