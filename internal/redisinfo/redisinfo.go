// Package redisinfo reads the replies of Redis INFO and CLUSTER INFO: lines
// of "key:value" under "# Section" headers. The library's Health and
// cmd/redisdoctor both judge a server by them.
package redisinfo

import (
	"math"
	"strconv"
	"strings"
)

// Fields are the "key:value" lines of an INFO or CLUSTER INFO reply, all
// sections together.
type Fields map[string]string

// Parse reads the "key:value" lines of s; section headers, blank lines and
// lines without a colon are dropped, and line ends (CRLF) are trimmed.
func Parse(s string) Fields {
	f := make(Fields)
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			f[k] = v
		}
	}
	return f
}

// Int returns the field key as an integer; ok is false when the server did
// not report it or it is not an integer.
func (f Fields) Int(key string) (n int64, ok bool) {
	v, ok := f[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// Float returns the field key as a number; ok is false when the server did
// not report it or it is not a number.
func (f Fields) Float(key string) (x float64, ok bool) {
	v, ok := f[key]
	if !ok {
		return 0, false
	}
	x, err := strconv.ParseFloat(v, 64)
	return x, err == nil
}

// ErrorCount returns how many error replies starting with prefix ("OOM")
// the server has sent, from INFO errorstats' "errorstat_OOM:count=3" line;
// 0 when the line is missing.
func (f Fields) ErrorCount(prefix string) int64 {
	v, ok := f["errorstat_"+prefix]
	if !ok {
		return 0
	}
	c, _ := strings.CutPrefix(v, "count=")
	c, _, _ = strings.Cut(c, ",")
	n, _ := strconv.ParseInt(c, 10, 64)
	return n
}

// Percent is used as a percentage of limit, rounded to two decimals (the
// share of maxmemory in use); 0 when there is no limit.
func Percent(used, limit int64) float64 {
	if limit <= 0 {
		return 0
	}
	return math.Round(float64(used)/float64(limit)*10000) / 100
}
