package redisclient

import (
	"context"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// quietLogger drops go-redis's own log lines (one per failed dial), which
// the fault tests provoke by the thousand.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	if os.Getenv("REDISCLIENT_TEST_VERBOSE") == "" {
		redis.SetLogger(quietLogger{})
	}
	os.Exit(m.Run())
}
