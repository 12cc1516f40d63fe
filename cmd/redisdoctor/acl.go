package main

import (
	"cmp"

	"github.com/systemtrader/redisclient/internal/noperm"
)

// asUser names the ACL user in a detail line, when there is one.
func asUser(t target) string {
	if t.user != "" {
		return " as ACL user " + t.user
	}
	return ""
}

// libraryRule says where the rule the library needs is, for advice.
const libraryRule = "the rule of user redisclient in deploy/users.conf (its keys and channels, PING, INFO and the data commands the library sends; +select for a DB other than 0)"

// nopermAdvice is the fix when the ACL user may not run a command every
// connection needs: grant what the library needs, nothing more.
func nopermAdvice(t target, err error) string {
	if noperm.Command(err) == "select" {
		return "The ACL user may not run SELECT, which every connection to a DB other than 0 needs: allow +select for it (`" +
			t.cli("") + " acl setuser " + cmp.Or(t.user, "default") + " +select` as an admin user, and in deploy/users.conf), or use DB 0."
	}
	return "The ACL user may not run a command the client needs: `" + t.cli("") + " acl getuser " + cmp.Or(t.user, "default") +
		"` (as an admin user) shows its permissions. A service needs " + libraryRule +
		"; the doctor's own checks need the redisdoctor user of that file (REDIS_USERNAME=redisdoctor)."
}

func pingAdvice() []string {
	return []string{
		"The library pings with PING: client.Ping fails for this user and Health times the NOPERM reply instead. Allow +ping (" + libraryRule + ").",
	}
}
