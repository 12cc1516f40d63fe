// Package redact hides credentials in text that may reach an error, a log
// line or a report: the user info of Redis URLs. The library and
// cmd/redisdoctor both use it, so a password is hidden the same way in both.
package redact

import "strings"

// Mark replaces the user info of a URL.
const Mark = "xxxxx"

// URL replaces the whole user info of a URL (user name and password) with
// Mark, even when the URL does not parse. The user info is taken to run up
// to the last "@", so a password holding an unencoded "@", "/", "#", "?" or
// space is hidden as well.
func URL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	if ok {
		scheme += "://"
	}
	return scheme + Mark + rest[at:]
}

// Value hides credentials in a value that should hold none but may be a
// URL (an address pasted with its user info).
func Value(v string) string {
	if strings.Contains(v, "@") {
		return URL(v)
	}
	return v
}
