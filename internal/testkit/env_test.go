package testkit

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

// recorder is a testing.TB that records how a helper ended the test
// instead of ending it.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

// ended stops the helper as Skip and Fatal would stop the test.
type ended struct{}

func (r *recorder) Helper() {}
func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, args[0].(string)
	panic(ended{})
}
func (r *recorder) Skipf(format string, args ...any) { r.Skip(format) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, format
	panic(ended{})
}

// run calls fn with a recorder and returns it once fn returned or ended.
func run(t *testing.T, fn func(tb testing.TB)) *recorder {
	r := &recorder{TB: t}
	func() {
		defer func() {
			if v := recover(); v != nil && v != (ended{}) {
				panic(v)
			}
		}()
		fn(r)
	}()
	return r
}

// Integration tests skip when what they need is missing, and fail instead
// under REDISCLIENT_INTEGRATION=1, so CI cannot pass by skipping them.
func TestMissingSkipsOrFails(t *testing.T) {
	const unset = "REDISCLIENT_TESTKIT_NEVER_SET"
	os.Unsetenv(unset)
	for _, integration := range []string{"", "1"} {
		t.Run("integration="+integration, func(t *testing.T) {
			t.Setenv(EnvIntegration, integration)
			for name, fn := range map[string]func(tb testing.TB){
				"RequireEnv":  func(tb testing.TB) { RequireEnv(tb, unset) },
				"NeedBinary":  func(tb testing.TB) { NeedBinary(tb, "redisclient-no-such-program") },
				"Unavailable": func(tb testing.TB) { Unavailable(tb, "no %s", "python") },
			} {
				r := run(t, fn)
				assert.Equal(t, integration == "1", r.failed, name)
				assert.Equal(t, integration != "1", r.skipped, name)
			}
		})
	}
}

func TestPresentPasses(t *testing.T) {
	t.Setenv(EnvIntegration, "1")
	t.Setenv(EnvURL, "redis://127.0.0.1:1/0")
	var got string
	r := run(t, func(tb testing.TB) { got = RequireEnv(tb, EnvURL) })
	assert.False(t, r.failed || r.skipped)
	assert.Equal(t, "redis://127.0.0.1:1/0", got)
	r = run(t, func(tb testing.TB) { got = NeedBinary(tb, "sh") })
	assert.False(t, r.failed || r.skipped)
	assert.NotEmpty(t, got)
}

// NeedSuite skips outside the suite even when everything is installed.
func TestNeedSuiteSkipsOutsideTheSuite(t *testing.T) {
	t.Setenv(EnvIntegration, "")
	t.Setenv(EnvURL, "")
	r := run(t, func(tb testing.TB) { NeedSuite(tb) })
	assert.True(t, r.skipped)
	assert.Contains(t, r.msg, "integration test")
}

func TestSetLibraryEnv(t *testing.T) {
	t.Setenv("REDIS_PASSWORD", "from-the-machine")
	SetLibraryEnv(t, "REDIS_URL", "redis://h:1/0")
	assert.Equal(t, "", os.Getenv("REDIS_PASSWORD"))
	assert.Equal(t, "redis://h:1/0", os.Getenv("REDIS_URL"))
}

func TestRepoPath(t *testing.T) {
	assert.FileExists(t, RepoPath("deploy", "users.conf"))
	assert.FileExists(t, RepoPath("scripts", "servers.sh"))
}
