// Package noperm reads Redis's NOPERM replies: the ACL user may not run a
// command. The library's Health and diagnose and cmd/redisdoctor all need to
// know which command was refused, to tell a least-privilege user from a
// broken server and to name the rule to grant.
package noperm

import (
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Command returns the command a NOPERM reply names, lower case ("ping" for
// "NOPERM this user has no permissions to run the 'ping' command"; a
// subcommand reads "config|get"). It is "" for other errors, for replies
// that deny keys or channels, and for errors that are not replies.
func Command(err error) string {
	var re redis.Error
	if !errors.As(err, &re) || !strings.HasPrefix(re.Error(), "NOPERM ") {
		return ""
	}
	_, rest, ok := strings.Cut(re.Error(), "to run the '")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "'")
	return strings.ToLower(name)
}
