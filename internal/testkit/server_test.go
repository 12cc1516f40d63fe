package testkit

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServerRestart(t *testing.T) {
	s := StartServer(t, Config{})
	addr := s.Addr()
	require.NoError(t, Ping(addr))
	assert.Equal(t, "redis://"+addr+"/0", s.URL())
	s.Stop()
	s.Stop()
	assert.False(t, s.Running())
	assert.Error(t, Ping(addr), "server still answers after Stop")
	s.Restart()
	assert.True(t, s.Running())
	require.NoError(t, Ping(addr))
}

// Args override the config file, the password protects the server and
// Admin uses it, and the data directory is the server's own.
func TestServerConfig(t *testing.T) {
	const password = "kit-Pa55word"
	s := StartServer(t, Config{Password: password, Args: []string{"--maxmemory", "3mb"}})
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	err := Ping(s.Addr())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOAUTH")
	cfg, err := s.Admin().ConfigGet(ctx, "*").Result()
	require.NoError(t, err)
	assert.Equal(t, "3145728", cfg["maxmemory"])
	assert.Equal(t, "", cfg["save"])
	assert.Equal(t, "no", cfg["appendonly"])
	assert.Equal(t, s.Dir, cfg["dir"])
	assert.FileExists(t, filepath.Join(s.Dir, "redis.conf"))
	assert.Contains(t, s.Log(), "Ready to accept connections")
}

// A server that cannot start fails with its output and its log, not a bare
// timeout.
func TestStartProcessReportsWhy(t *testing.T) {
	NeedBinary(t, "redis-server")
	dir := t.TempDir()
	log := filepath.Join(dir, "redis.log")
	require.NoError(t, os.WriteFile(log, []byte("an earlier line of the log\n"), 0o600))
	proc, err := spawn(Process{Args: []string{"--port", "0", "--no-such-directive", "x"},
		Dir: dir, Addr: "127.0.0.1:1", Log: log})
	require.Error(t, err)
	assert.Nil(t, proc)
	assert.Contains(t, err.Error(), "exited during start-up")
	assert.Contains(t, err.Error(), "Bad directive")
	assert.Contains(t, err.Error(), "an earlier line of the log")
}

func TestBlackholeNeverAnswers(t *testing.T) {
	addr := Blackhole(t)
	err := Ping(addr) // Ping gives up after a second
	require.Error(t, err)
	assert.Contains(t, err.Error(), "timeout")
}
