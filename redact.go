package redisclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/systemtrader/redisclient/internal/redact"
)

// This file keeps secrets out of errors, fmt output and logs: the password
// fields of Options and the user info of URLs.

// redactedMark replaces a secret wherever Options is printed.
const redactedMark = "[REDACTED]"

// parseURL parses rawURL as go-redis does (redis.ParseClusterURL when
// cluster is set, redis.ParseURL otherwise) and returns the result, the other
// pointer nil, or an error that holds no part of its user info. URLs that
// parse but leave part of a mistyped user info elsewhere are refused:
// "redis://user#:pw@host" (go-redis ignores the fragment and would connect
// to host "user") and any "@" after the host ("redis://user/x:pw@host" has
// host "user" and path "/x:pw@host").
func parseURL(rawURL string, cluster bool) (*redis.Options, *redis.ClusterOptions, error) {
	var (
		ro *redis.Options
		co *redis.ClusterOptions
	)
	parse := func(s string) error {
		u, err := url.Parse(s)
		switch {
		case err != nil:
			return err
		case u.Fragment != "" || strings.HasSuffix(s, "#"):
			return errors.New(`"#" outside the user info: a Redis URL has no fragment`)
		case strings.Contains(u.Path+u.RawQuery, "@"):
			return errors.New(`"@" after the host: percent-encode "/", "?", "#" and "@" in the user info`)
		}
		if cluster {
			co, err = redis.ParseClusterURL(s)
		} else {
			ro, err = redis.ParseURL(s)
		}
		return err
	}
	if parse(rawURL) != nil {
		return nil, nil, urlError("URL", rawURL, parse)
	}
	return ro, co, nil
}

// urlError describes why rawURL was refused without repeating any of its
// user info. parse is the parser that refused it. Its own error may quote
// the user info (an unencoded "/" in a password makes url.Parse complain
// about the port ":pa"), so it is only shown when the URL with its user info
// redacted fails too, and then it is that URL's error.
func urlError(what, rawURL string, parse func(string) error) error {
	shown := redact.URL(rawURL)
	if err := parse(shown); err != nil {
		return optionsError("%s %s: %s", what, shown, unwrapURLError(err))
	}
	return optionsError("%s %s: malformed user name or password: percent-encode "+
		"the characters / ? # @ : %% and spaces in them (%%2F %%3F %%23 %%40 %%3A %%25 %%20)", what, shown)
}

// unwrapURLError drops url.Error's "parse <URL>:" prefix, which repeats the
// URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// maskedOptions has the fields of Options and none of its methods, so it
// prints with fmt's defaults and does not recurse into Format.
type maskedOptions Options

// masked returns a copy of o whose secrets are replaced by redactedMark.
func (o Options) masked() maskedOptions {
	m := maskedOptions(o)
	m.URL = redact.URL(o.URL)
	m.Password = maskSecret(o.Password)
	m.SentinelPassword = maskSecret(o.SentinelPassword)
	m.TLSConfig = maskTLS(o.TLSConfig)
	return m
}

// maskTLS returns a summary of c that is safe to print: fmt dereferences a
// nested *tls.Config for some verbs (%s, %d, %x), which would print private
// keys and session ticket keys. Private keys read redactedMark.
func maskTLS(c *tls.Config) *tls.Config {
	if c == nil {
		return nil
	}
	m := &tls.Config{
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify,
		MinVersion:         c.MinVersion,
		MaxVersion:         c.MaxVersion,
		NextProtos:         c.NextProtos,
	}
	for range c.Certificates {
		m.Certificates = append(m.Certificates, tls.Certificate{PrivateKey: redactedMark})
	}
	return m
}

func maskSecret(s string) string {
	if s == "" {
		return ""
	}
	return redactedMark
}

// Format prints Options with every fmt verb (%v, %+v, %#v, %s, %q, %x, ...)
// as fmt would, except that Password and SentinelPassword read
// "[REDACTED]", the user info of URL reads "xxxxx" and TLSConfig is
// reduced to a summary whose private keys read "[REDACTED]".
//
// fmt cannot call this method for an Options held in an unexported field of
// another struct; format such a struct's fields one by one.
func (o Options) Format(f fmt.State, verb rune) {
	m := o.masked()
	if verb == 'v' && f.Flag('#') {
		s := fmt.Sprintf(fmt.FormatString(f, verb), m)
		_, _ = io.WriteString(f, strings.Replace(s, "maskedOptions{", "Options{", 1))
		return
	}
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), m)
}

// LogValue makes slog log Options as a group of its non-zero fields, with
// the passwords and the URL's user info masked as for Format and TLSConfig
// reduced to whether it is set and its server name: its certificates and
// keys never reach a log.
func (o Options) LogValue() slog.Value {
	m := o.masked()
	var attrs []slog.Attr
	add := func(key string, v any, set bool) {
		if set {
			attrs = append(attrs, slog.Any(key, v))
		}
	}
	add("url", m.URL, m.URL != "")
	add("addr", m.Addr, m.Addr != "")
	add("addrs", m.Addrs, len(m.Addrs) > 0)
	add("cluster_mode", true, m.ClusterMode)
	add("master_name", m.MasterName, m.MasterName != "")
	add("sentinel_addrs", m.SentinelAddrs, len(m.SentinelAddrs) > 0)
	add("sentinel_username", m.SentinelUsername, m.SentinelUsername != "")
	add("sentinel_password", m.SentinelPassword, m.SentinelPassword != "")
	add("username", m.Username, m.Username != "")
	add("password", m.Password, m.Password != "")
	add("db", m.DB, m.DB != 0)
	if m.TLSConfig != nil {
		attrs = append(attrs, slog.Group("tls",
			slog.String("server_name", m.TLSConfig.ServerName),
			slog.Bool("insecure_skip_verify", m.TLSConfig.InsecureSkipVerify),
			slog.Int("certificates", len(m.TLSConfig.Certificates))))
	}
	add("pool_size", m.PoolSize, m.PoolSize != 0)
	add("min_idle_conns", m.MinIdleConns, m.MinIdleConns != 0)
	add("dial_timeout", m.DialTimeout, m.DialTimeout != 0)
	add("read_timeout", m.ReadTimeout, m.ReadTimeout != 0)
	add("write_timeout", m.WriteTimeout, m.WriteTimeout != 0)
	add("namespace", m.Namespace, m.Namespace != "")
	add("separator", m.Separator, m.Separator != "")
	add("default_ttl", m.DefaultTTL, m.DefaultTTL != 0)
	add("ttl_jitter", m.TTLJitter, m.TTLJitter != 0)
	add("serializer", fmt.Sprintf("%T", m.Serializer), m.Serializer != nil)
	add("hash_mode", m.HashMode.String(), m.HashMode != 0)
	add("tracer_provider", fmt.Sprintf("%T", m.TracerProvider), m.TracerProvider != nil)
	add("meter_provider", fmt.Sprintf("%T", m.MeterProvider), m.MeterProvider != nil)
	add("trace_keys", true, m.TraceKeys)
	return slog.GroupValue(attrs...)
}

// checkNoUserInfo refuses addresses holding user info ("redis://:pw@h:1"
// pasted into Addr): they would reach dial errors, and so every error and
// log line, with the password in them. The error does not repeat them.
func (o *Options) checkNoUserInfo() error {
	check := func(field string, addrs ...string) error {
		for _, a := range addrs {
			if strings.Contains(a, "@") && !strings.HasPrefix(a, "unix:") { // "@" starts Linux abstract socket names
				return optionsError("%s holds user info (an \"@\"): credentials go in Username and Password, or in URL", field)
			}
		}
		return nil
	}
	return errors.Join(check("Addr", o.Addr), check("Addrs", o.Addrs...), check("SentinelAddrs", o.SentinelAddrs...))
}
