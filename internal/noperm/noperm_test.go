package noperm

import (
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
)

// reply is a server error reply, as go-redis returns them.
type reply string

func (e reply) Error() string { return string(e) }
func (reply) RedisError()     {}

func TestCommand(t *testing.T) {
	for msg, want := range map[string]string{
		"NOPERM this user has no permissions to run the 'ping' command":                   "ping",
		"NOPERM User app has no permissions to run the 'INFO' command":                    "info",
		"NOPERM User app has no permissions to run the 'config|get' command":              "config|get",
		"NOPERM this user has no permissions to access one of the keys used as arguments": "",
		"WRONGPASS invalid username-password pair or user is disabled.":                   "",
	} {
		assert.Equal(t, want, Command(fmt.Errorf("x: %w", reply(msg))), msg)
	}
	assert.Equal(t, "", Command(io.EOF))
	assert.Equal(t, "", Command(nil))
	assert.Equal(t, "", Command(fmt.Errorf("NOPERM this user has no permissions to run the 'ping' command")), "not a reply")
}
