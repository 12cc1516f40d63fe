// Package scripts holds the tests of the shell scripts beside it.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// allPackages is what deps.sh installs on a machine that has none of them, in
// its order.
const allPackages = "redis-server redis-tools redis-sentinel systemd python3-redis openssl iproute2 procps"

// fakeMachine is a PATH of stub programs standing in for a Debian machine.
type fakeMachine struct {
	t   *testing.T
	bin string
	log string // every apt-get call, one line each
}

func newFakeMachine(t *testing.T, uid string) *fakeMachine {
	t.Helper()
	m := &fakeMachine{t: t, bin: t.TempDir(), log: filepath.Join(t.TempDir(), "apt.log")}
	for _, tool := range []string{"env", "tr", "cat", "true", "chmod"} {
		real, err := exec.LookPath(tool)
		require.NoError(t, err)
		require.NoError(t, os.Symlink(real, filepath.Join(m.bin, tool)))
	}
	m.stub("id", `[ "$1" = -u ] && echo `+uid)
	m.stub("python3", `exit 1`) // no redis module until python3-redis is installed
	// apt-get records its arguments and, on install, provides each package's program.
	m.stub("apt-get", `echo "$DEBIAN_FRONTEND apt-get $*" >>`+m.log+`
[ "$1" = install ] || exit 0
dir=`+m.bin+`
for p in "$@"; do
	case $p in
	redis-server) c=redis-server ;; redis-tools) c=redis-cli ;; redis-sentinel) c=redis-sentinel ;;
	systemd) c=systemd-analyze ;; openssl) c=openssl ;; iproute2) c=ss ;; procps) c=ps ;;
	python3-redis) printf '#!/bin/sh\nexit 0\n' >"$dir/python3"; chmod +x "$dir/python3"; continue ;;
	*) continue ;;
	esac
	printf '#!/bin/sh\nexit 0\n' >"$dir/$c"; chmod +x "$dir/$c"
done`)
	return m
}

func (m *fakeMachine) stub(name, body string) {
	m.t.Helper()
	require.NoError(m.t, os.WriteFile(filepath.Join(m.bin, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755))
}

// run runs deps.sh with the stubs as the only PATH.
func (m *fakeMachine) run(args ...string) (stdout, stderr string, code int) {
	m.t.Helper()
	cmd := exec.Command("/bin/bash", append([]string{"deps.sh"}, args...)...)
	cmd.Env = []string{"PATH=" + m.bin, "REDISCLIENT_PYTHON=" + filepath.Join(m.bin, "python3")}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		var exit *exec.ExitError
		require.ErrorAs(m.t, err, &exit, "stderr: %s", errb.String())
		code = exit.ExitCode()
	}
	return out.String(), errb.String(), code
}

func (m *fakeMachine) aptCalls() []string {
	b, err := os.ReadFile(m.log)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(m.t, err)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestDepsInstallWithoutRootOrSudoPrintsTheCommand(t *testing.T) {
	m := newFakeMachine(t, "1000")
	_, stderr, code := m.run("install")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "\nsudo apt-get install -y "+allPackages+"\n")
	require.Empty(t, m.aptCalls(), "nothing may be installed")
}

func TestDepsInstallWithoutPasswordFreeSudoPrintsTheCommand(t *testing.T) {
	m := newFakeMachine(t, "1000")
	m.stub("sudo", `exit 1`) // asks for a password
	_, stderr, code := m.run("install")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "sudo apt-get install -y "+allPackages)
	require.Empty(t, m.aptCalls())
}

func TestDepsInstallAsRoot(t *testing.T) {
	m := newFakeMachine(t, "0")
	_, stderr, code := m.run("install")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, []string{
		"noninteractive apt-get update -q",
		"noninteractive apt-get install -y -q --no-install-recommends " + allPackages,
	}, m.aptCalls())

	// Everything is there now: a second run installs nothing.
	_, _, code = m.run("install")
	require.Equal(t, 0, code)
	require.Len(t, m.aptCalls(), 2)
}

func TestDepsInstallWithPasswordFreeSudo(t *testing.T) {
	m := newFakeMachine(t, "1000")
	m.stub("sudo", `[ "$1" = -n ] || exit 1
shift
echo sudo >>`+m.log+`
exec "$@"`)
	_, stderr, code := m.run("install")
	require.Equal(t, 0, code, stderr)
	calls := m.aptCalls()
	require.Contains(t, calls, "noninteractive apt-get install -y -q --no-install-recommends "+allPackages)
	require.Equal(t, "sudo", calls[0], "apt-get must run through sudo")
}

func TestDepsInstallOnlyWhatIsMissing(t *testing.T) {
	m := newFakeMachine(t, "0")
	m.stub("redis-server", "exit 0")
	m.stub("ps", "exit 0")
	_, stderr, code := m.run("install")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "noninteractive apt-get install -y -q --no-install-recommends "+
		"redis-tools redis-sentinel systemd python3-redis openssl iproute2", m.aptCalls()[1])
}

func TestDepsInstallFailsWhenAPackageDoesNotProvideItsProgram(t *testing.T) {
	m := newFakeMachine(t, "0")
	m.stub("apt-get", "exit 0") // "succeeds" but installs nothing
	_, stderr, code := m.run("install")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "still missing after install: redis-server redis-tools")
}

func TestDepsCheck(t *testing.T) {
	m := newFakeMachine(t, "0")
	stdout, _, code := m.run("check")
	require.Equal(t, 1, code)
	require.Equal(t, allPackages+"\n", stdout)
	require.Empty(t, m.aptCalls(), "check never installs")

	_, stderr, code := m.run("frobnicate")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "usage: deps.sh check|install")
}

// The real machine: whatever deps.sh reports missing is really missing.
func TestDepsCheckOnThisMachine(t *testing.T) {
	out, err := exec.Command("/bin/bash", "deps.sh", "check").Output()
	if err == nil {
		require.Empty(t, out)
		return
	}
	for _, pkg := range strings.Fields(string(out)) {
		require.Contains(t, strings.Fields(allPackages), pkg)
	}
}
