package redisclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replyErr is a server error reply, as go-redis returns them.
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

func TestIsRetryable(t *testing.T) {
	ctxCancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"miss", ErrNotFound, false},
		{"redis.Nil", redis.Nil, false},
		{"wrapped miss", opErr("get", "k", ErrNotFound), false},
		{"LOADING", replyErr("LOADING Redis is loading the dataset in memory"), true},
		{"READONLY", replyErr("READONLY You can't write against a read only replica."), true},
		{"TRYAGAIN", replyErr("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{"MASTERDOWN", replyErr("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), true},
		{"CLUSTERDOWN", replyErr("CLUSTERDOWN The cluster is down"), true},
		{"NOREPLICAS", replyErr("NOREPLICAS Not enough good replicas to write."), true},
		{"max clients", replyErr("ERR max number of clients reached"), true},
		{"wrapped LOADING", opErr("get", "k", replyErr("LOADING Redis is loading")), true},
		{"WRONGTYPE", replyErr("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"OOM", replyErr("OOM command not allowed when used memory > 'maxmemory'."), false},
		{"syntax", replyErr("ERR syntax error"), false},
		{"NOSCRIPT", replyErr("NOSCRIPT No matching script. Please use EVAL."), false},
		{"EXECABORT", replyErr("EXECABORT Transaction discarded because of previous errors."), false},
		{"NOAUTH", replyErr("NOAUTH Authentication required."), false},
		{"LOADING lookalike", replyErr("ERR LOADINGX"), false},
		{"EOF", io.EOF, true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"wrapped EOF", opErr("set", "k", io.EOF), true},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, true},
		{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"marked dial", &dialError{err: errors.New("tls: handshake failure")}, true},
		{"pool timeout", redis.ErrPoolTimeout, true},
		{"pool exhausted", redis.ErrPoolExhausted, true},
		{"cancelled", context.Canceled, false},
		{"wrapped cancelled", fmt.Errorf("get: %w", ctxCancelled.Err()), false},
		{"dial cancelled", &net.OpError{Op: "dial", Net: "tcp", Err: context.Canceled}, false},
		{"bare deadline", context.DeadlineExceeded, false},
		{"breaker open", &unavailErr{cause: io.EOF}, false},
		{"wrapped breaker open", opErr("get", "k", &unavailErr{cause: io.EOF}), false},
		{"closed", ErrClosed, false},
		{"go-redis closed", redis.ErrClosed, false},
		{"invalid options", ErrInvalidOptions, false},
		{"decode", ErrUnsupportedFormat, false},
		{"other", errors.New("boom"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, IsRetryable(tc.err), "%v", tc.err)
		})
	}
}

func TestConnFailureClassification(t *testing.T) {
	for _, err := range []error{
		io.EOF, redis.ErrPoolTimeout, &dialError{err: errors.New("x")},
		&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded},
	} {
		assert.True(t, isConnFailure(err), "%v", err)
	}
	for _, err := range []error{
		nil, redis.Nil, replyErr("WRONGTYPE x"), replyErr("OOM x"), replyErr("LOADING x"),
		context.Canceled, context.DeadlineExceeded, errors.New("boom"),
	} {
		assert.False(t, isConnFailure(err), "%v", err)
	}
	assert.True(t, notExecuted(replyErr("LOADING x")))
	assert.True(t, notExecuted(&dialError{err: io.EOF}))
	assert.True(t, notExecuted(redis.ErrPoolTimeout))
	assert.False(t, notExecuted(io.EOF), "a connection lost after the write may have run the command")
	assert.False(t, notExecuted(&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}))
	assert.False(t, notExecuted(replyErr("WRONGTYPE x")))
}

func TestIsIdempotent(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		cmd  redis.Cmder
		want bool
	}{
		{redis.NewStringCmd(ctx, "get", "k"), true},
		{redis.NewStatusCmd(ctx, "set", "k", "v"), true},
		{redis.NewStatusCmd(ctx, "set", "k", "v", "px", 100), true},
		{redis.NewStatusCmd(ctx, "set", "k", "nx"), true}, // "nx" is the value
		{redis.NewBoolCmd(ctx, "set", "k", "v", "nx"), false},
		{redis.NewStringCmd(ctx, "set", "k", "v", "GET"), false},
		{redis.NewIntCmd(ctx, "SETNX", "k", "v"), false},
		{redis.NewIntCmd(ctx, "incr", "k"), false},
		{redis.NewIntCmd(ctx, "INCRBY", "k", 2), false},
		{redis.NewFloatCmd(ctx, "incrbyfloat", "k", 2.5), false},
		{redis.NewIntCmd(ctx, "decrby", "k", 2), false},
		{redis.NewIntCmd(ctx, "lpush", "k", "v"), false},
		{redis.NewIntCmd(ctx, "rpush", "k", "v"), false},
		{redis.NewStringCmd(ctx, "lpop", "k"), false},
		{redis.NewStringCmd(ctx, "lmove", "a", "b", "left", "right"), false},
		{redis.NewStringCmd(ctx, "spop", "k"), false},
		{redis.NewFloatCmd(ctx, "zincrby", "k", 1, "m"), false},
		{redis.NewIntCmd(ctx, "hincrby", "k", "f", 1), false},
		{redis.NewIntCmd(ctx, "publish", "c", "m"), false},
		{redis.NewIntCmd(ctx, "spublish", "c", "m"), false},
		{redis.NewStringCmd(ctx, "xadd", "s", "*", "f", "v"), false},
		{redis.NewIntCmd(ctx, "append", "k", "v"), false},
		{redis.NewStringCmd(ctx, "getdel", "k"), false},
		{redis.NewStringCmd(ctx, "getset", "k", "v"), false},
		{redis.NewCmd(ctx, "eval", "return 1", 0), false},
		{redis.NewCmd(ctx, "evalsha", "abc", 0), false},
		{redis.NewStatusCmd(ctx, "multi"), false},
		{redis.NewSliceCmd(ctx, "exec"), false},
		{redis.NewIntCmd(ctx, "zadd", "k", 1, "m"), true},
		{redis.NewFloatCmd(ctx, "zadd", "k", "incr", 1, "m"), false},
		{redis.NewIntCmd(ctx, "del", "k"), true},
		{redis.NewIntCmd(ctx, "hset", "k", "f", "v"), true},
		{redis.NewIntCmd(ctx, "sadd", "k", "m"), true},
		{redis.NewBoolCmd(ctx, "pexpire", "k", 100), true},
		{redis.NewSliceCmd(ctx, "mget", "a", "b"), true},
		{redis.NewStatusCmd(ctx, "ping"), true},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, isIdempotent(tc.cmd), "%v", tc.cmd.Args())
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		p     RetryPolicy
		field string
	}{
		{RetryPolicy{Attempts: -1}, "Retry.Attempts"},
		{RetryPolicy{MinBackoff: -2}, "Retry.MinBackoff"},
		{RetryPolicy{MaxBackoff: -1}, "Retry.MaxBackoff"},
		{RetryPolicy{MinBackoff: time.Second, MaxBackoff: time.Millisecond}, "Retry.MaxBackoff"},
		{RetryPolicy{Jitter: 1}, "Retry.Jitter"},
		{RetryPolicy{Jitter: -0.5}, "Retry.Jitter"},
	} {
		err := tc.p.validate()
		require.ErrorIs(t, err, ErrInvalidOptions, "%+v", tc.p)
		assert.Contains(t, err.Error(), tc.field)
		_, err = New(Options{Retry: tc.p})
		assert.ErrorIs(t, err, ErrInvalidOptions)
		err = Retry(context.Background(), tc.p, func(context.Context) error { t.Fatal("fn called"); return nil })
		assert.ErrorIs(t, err, ErrInvalidOptions)
	}
	for _, p := range []RetryPolicy{
		{}, {Attempts: 1}, {MinBackoff: -1}, {Jitter: -1}, {Jitter: 0.99},
		{MinBackoff: time.Second}, // MaxBackoff defaults to at least MinBackoff
		{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
	} {
		assert.NoError(t, p.validate(), "%+v", p)
	}
	err := BreakerOptions{Cooldown: -time.Second}.validate()
	require.ErrorIs(t, err, ErrInvalidOptions)
	assert.Contains(t, err.Error(), "Breaker.Cooldown")
	_, err = New(Options{Breaker: BreakerOptions{Cooldown: -1}})
	assert.ErrorIs(t, err, ErrInvalidOptions)
}

func TestRetryPolicyBackoff(t *testing.T) {
	var p RetryPolicy
	within := func(n int, lo, hi time.Duration) {
		t.Helper()
		for range 200 {
			d := p.Backoff(n)
			require.True(t, d >= lo && d <= hi, "Backoff(%d) = %v, want [%v, %v]", n, d, lo, hi)
		}
	}
	within(0, 0, 0)
	within(1, 6400*time.Microsecond, 8*time.Millisecond)
	within(2, 12800*time.Microsecond, 16*time.Millisecond)
	within(6, 204800*time.Microsecond, 256*time.Millisecond) // 8ms << 5 = 256ms
	within(7, 204800*time.Microsecond, 256*time.Millisecond) // capped
	within(1<<20, 204800*time.Microsecond, 256*time.Millisecond)

	p = RetryPolicy{MinBackoff: 10 * time.Millisecond, MaxBackoff: 25 * time.Millisecond, Jitter: -1}
	assert.Equal(t, 10*time.Millisecond, p.Backoff(1))
	assert.Equal(t, 20*time.Millisecond, p.Backoff(2))
	assert.Equal(t, 25*time.Millisecond, p.Backoff(3))
	assert.Equal(t, time.Duration(0), RetryPolicy{MinBackoff: -1}.Backoff(3))
}

func TestRetryPolicyAppliedToGoRedis(t *testing.T) {
	o, err := Options{}.withDefaults()
	require.NoError(t, err)
	uo := o.universal()
	assert.Equal(t, -1, uo.MaxRetries, "go-redis must not retry: it cannot tell INCR from GET")
	assert.Equal(t, 1, uo.DialerRetries)
	assert.True(t, uo.ContextTimeoutEnabled)
}

func TestRetryFunc(t *testing.T) {
	ctx := testCtx(t)
	fast := RetryPolicy{Attempts: 4, MinBackoff: time.Millisecond, Jitter: -1}

	var calls int
	err := Retry(ctx, fast, func(context.Context) error {
		calls++
		if calls < 3 {
			return io.EOF
		}
		return nil
	})
	assert.NoError(t, err)
	assert.Equal(t, 3, calls)

	calls = 0
	err = Retry(ctx, fast, func(context.Context) error { calls++; return replyErr("WRONGTYPE x") })
	assert.EqualError(t, err, "WRONGTYPE x")
	assert.Equal(t, 1, calls, "permanent errors are not retried")

	calls = 0
	err = Retry(ctx, fast, func(context.Context) error { calls++; return replyErr("LOADING x") })
	assert.EqualError(t, err, "LOADING x")
	assert.Equal(t, 4, calls, "Attempts is the total number of tries")

	calls = 0
	err = Retry(ctx, RetryPolicy{}, func(context.Context) error { calls++; return io.EOF })
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, DefaultRetryAttempts, calls)

	calls = 0
	err = Retry(ctx, RetryPolicy{Attempts: 1}, func(context.Context) error { calls++; return io.EOF })
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, 1, calls)
}

func TestRetryFuncContext(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	err := Retry(cancelled, RetryPolicy{}, func(context.Context) error { t.Fatal("fn called"); return nil })
	assert.ErrorIs(t, err, context.Canceled)

	// Cancelled during a long backoff: returns at once with both errors.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := RetryPolicy{Attempts: 5, MinBackoff: time.Minute}
	var calls int
	start := time.Now()
	err = Retry(ctx, slow, func(context.Context) error {
		calls++
		time.AfterFunc(10*time.Millisecond, cancel)
		return io.EOF
	})
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, 1, calls)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, io.EOF)
	assert.Contains(t, err.Error(), "after 1 attempts")
}

// serverScript intercepts the commands a miniredis receives: it counts them
// by name and lets rule answer (returning true) or pass a command through.
type serverScript struct {
	mu     sync.Mutex
	counts map[string]int
	rule   func(n int, p *server.Peer, cmd string, args []string) bool
}

func scriptServer(mr *miniredis.Miniredis) *serverScript {
	s := &serverScript{counts: map[string]int{}}
	mr.Server().SetPreHook(func(p *server.Peer, cmd string, args ...string) bool {
		s.mu.Lock()
		s.counts[cmd]++
		n, rule := s.counts[cmd], s.rule
		s.mu.Unlock()
		return rule != nil && rule(n, p, cmd, args)
	})
	return s
}

func (s *serverScript) set(rule func(n int, p *server.Peer, cmd string, args []string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rule = rule
	s.counts = map[string]int{}
}

func (s *serverScript) count(cmd string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[cmd]
}

// failFirst answers the first n calls of cmd with the error reply msg.
func failFirst(cmd string, n int, msg string) func(int, *server.Peer, string, []string) bool {
	return func(i int, p *server.Peer, c string, _ []string) bool {
		if c == cmd && i <= n {
			p.WriteError(msg)
			return true
		}
		return false
	}
}

// fastRetry keeps unit tests quick and deterministic.
var fastRetry = RetryPolicy{Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}

func TestTransientRepliesRetried(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Retry: fastRetry})
	ctx := testCtx(t)
	s := scriptServer(mr)
	require.NoError(t, c.Set(ctx, "k", "v", 0))

	s.set(failFirst("GET", 2, "LOADING Redis is loading the dataset in memory"))
	var got string
	require.NoError(t, c.Get(ctx, "k", &got))
	assert.Equal(t, "v", got)
	assert.Equal(t, 3, s.count("GET"))

	s.set(failFirst("SET", 1, "READONLY You can't write against a read only replica."))
	require.NoError(t, c.Set(ctx, "k", "w", 0))
	assert.Equal(t, 2, s.count("SET"))

	// A transient reply proves the command did not run, so even INCR is
	// retried, and counted once.
	s.set(failFirst("INCRBY", 2, "LOADING Redis is loading the dataset in memory"))
	n, err := c.Incr(ctx, "n", 1)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	assert.Equal(t, 3, s.count("INCRBY"))

	// Attempts spent: the last error surfaces, wrapped with op and key.
	s.set(failFirst("GET", 100, "TRYAGAIN Multiple keys request during rehashing of slot"))
	err = c.Get(ctx, "k", &got)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "get trading:k: TRYAGAIN")
	assert.Equal(t, 3, s.count("GET"))
	assert.Equal(t, BreakerClosed, c.BreakerState(), "replies never open the breaker")
}

func TestPermanentRepliesNotRetried(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Retry: fastRetry, Breaker: BreakerOptions{Threshold: 1}})
	ctx := testCtx(t)
	s := scriptServer(mr)

	s.set(failFirst("SET", 100, "OOM command not allowed when used memory > 'maxmemory'."))
	err := c.Set(ctx, "k", "v", 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set trading:k: OOM command not allowed")
	assert.Equal(t, 1, s.count("SET"))

	s.set(nil)
	_, err = c.Redis().LPush(ctx, "trading:list", "x").Result()
	require.NoError(t, err)
	err = c.Get(ctx, "list", new(string))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WRONGTYPE")
	assert.Equal(t, 1, s.count("GET"))

	assert.ErrorIs(t, c.Get(ctx, "missing", new(string)), ErrNotFound)
	assert.Equal(t, 2, s.count("GET"))
	assert.Equal(t, BreakerClosed, c.BreakerState(), "replies and misses never open the breaker")
}

// dropAfterRunning runs INCRBY on the server, then closes the connection
// before the reply is written: the client cannot know it ran.
func dropAfterRunning(mr *miniredis.Miniredis, times int) func(int, *server.Peer, string, []string) bool {
	return func(n int, p *server.Peer, cmd string, args []string) bool {
		if cmd != "INCRBY" || n > times {
			return false
		}
		var by int
		_, _ = fmt.Sscan(args[1], &by)
		_, _ = mr.Incr(args[0], by)
		p.Close()
		return true
	}
}

func TestNonIdempotentNotRetriedAfterWrite(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Retry: fastRetry})
	ctx := testCtx(t)
	s := scriptServer(mr)
	require.NoError(t, c.Ping(ctx))

	s.set(dropAfterRunning(mr, 1))
	_, err := c.Incr(ctx, "n", 5)
	require.Error(t, err, "the lost reply must surface")
	assert.True(t, IsRetryable(err), "the error itself is a network error: %v", err)
	assert.Equal(t, 1, s.count("INCRBY"), "INCR must not be sent twice")
	v, err := mr.Get("trading:n")
	require.NoError(t, err)
	assert.Equal(t, "5", v, "incremented exactly once")

	// The same fault on an idempotent command is retried and succeeds.
	s.set(func(n int, p *server.Peer, cmd string, _ []string) bool {
		if cmd == "GET" && n == 1 {
			p.Close()
			return true
		}
		return false
	})
	var got string
	require.NoError(t, c.Get(ctx, "n", &got))
	assert.Equal(t, "5", got)
	assert.Equal(t, 2, s.count("GET"))
}

func TestPipelineRetry(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Retry: fastRetry})
	ctx := testCtx(t)
	s := scriptServer(mr)
	rdb := c.Redis()
	require.NoError(t, rdb.Set(ctx, "a", "1", 0).Err())

	// Idempotent pipeline whose connection drops: retried as a whole.
	s.set(func(n int, p *server.Peer, cmd string, _ []string) bool {
		if cmd == "GET" && n == 1 {
			p.Close()
			return true
		}
		return false
	})
	var get *redis.StringCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "b", "2", 0)
		get = p.Get(ctx, "a")
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "1", get.Val())
	assert.Equal(t, 2, s.count("GET"))
	assert.Equal(t, 2, s.count("SET"))

	// A pipeline holding INCR is not retried once it may have run.
	s.set(dropAfterRunning(mr, 1))
	var incr *redis.IntCmd
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "a")
		incr = p.IncrBy(ctx, "n", 1)
		return nil
	})
	require.Error(t, err)
	require.Error(t, incr.Err())
	assert.Equal(t, 1, s.count("INCRBY"))
	v, _ := mr.Get("n")
	assert.Equal(t, "1", v)

	// ... but is retried when every command was rejected unexecuted.
	s.set(func(n int, p *server.Peer, cmd string, _ []string) bool {
		if (cmd == "GET" || cmd == "INCRBY") && n == 1 {
			p.WriteError("LOADING Redis is loading the dataset in memory")
			return true
		}
		return false
	})
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "a")
		incr = p.IncrBy(ctx, "n", 1)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, int64(2), incr.Val())
	assert.Equal(t, 2, s.count("INCRBY"))

	// A transaction is not retried after a lost reply, even of idempotent
	// commands: MULTI/EXEC may have committed.
	s.set(func(n int, p *server.Peer, cmd string, _ []string) bool {
		if cmd == "EXEC" && n == 1 {
			p.Close()
			return true
		}
		return false
	})
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "a", "2", 0)
		return nil
	})
	require.Error(t, err)
	assert.Equal(t, 1, s.count("MULTI"))
}

func TestPipelineCommandErrors(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Retry: fastRetry, Breaker: BreakerOptions{Threshold: 1, Cooldown: time.Hour}})
	ctx := testCtx(t)
	s := scriptServer(mr)
	rdb := c.Redis()
	require.NoError(t, rdb.Set(ctx, "a", "1", 0).Err())
	require.NoError(t, rdb.LPush(ctx, "l", "x").Err())

	// A reply error in one command leaves the others' results alone and
	// is not retried.
	var get, bad *redis.StringCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, "a")
		bad = p.Get(ctx, "l")
		return nil
	})
	require.Error(t, err)
	assert.NoError(t, get.Err())
	assert.Equal(t, "1", get.Val())
	assert.Contains(t, bad.Err().Error(), "WRONGTYPE")
	assert.Equal(t, 2, s.count("GET"))

	// Breaker open: nothing runs, and every command carries the error.
	mr.Close()
	_, _ = rdb.Get(ctx, "a").Result()
	require.Equal(t, BreakerOpen, c.BreakerState())
	_, err = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		get = p.Get(ctx, "a")
		bad = p.Get(ctx, "b")
		return nil
	})
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, get.Err(), ErrUnavailable)
	assert.ErrorIs(t, bad.Err(), ErrUnavailable)
}

func TestCancelledContextNotRetried(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Retry: RetryPolicy{Attempts: 5, MinBackoff: time.Minute}})
	s := scriptServer(mr)
	require.NoError(t, c.Ping(testCtx(t)))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Set(ctx, "k", "v", 0)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, s.count("SET"), "a cancelled call never reaches the server")

	// Cancelled while waiting to retry: returns at once, one attempt made.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	s.set(func(n int, p *server.Peer, cmd string, _ []string) bool {
		if cmd == "GET" {
			time.AfterFunc(5*time.Millisecond, cancel)
			p.WriteError("LOADING Redis is loading the dataset in memory")
			return true
		}
		return false
	})
	start := time.Now()
	err = c.Get(ctx, "k", new(string))
	assert.Less(t, time.Since(start), 5*time.Second, "a 1-minute backoff must end with the context")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "LOADING", "the last error is kept")
	assert.Equal(t, 1, s.count("GET"))

	// Expired deadline: same, and the breaker does not count it.
	dctx, dcancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer dcancel()
	<-dctx.Done()
	assert.ErrorIs(t, c.Get(dctx, "k", new(string)), context.DeadlineExceeded)
	assert.Equal(t, int64(0), c.shared.breaker.failures.Load())
}

func TestDialErrorsRetriedForAnyCommand(t *testing.T) {
	// A stopped server refuses the dial: the command was never sent, so
	// even INCR is retried, and every attempt is counted.
	c, mr := newMiniredisClient(t, Options{Retry: fastRetry, Breaker: BreakerOptions{Threshold: -1}})
	var attempts atomic.Int32
	c.Redis().AddHook(attemptCounter{process: &attempts})
	mr.Close()
	_, err := c.Incr(testCtx(t), "n", 1)
	require.Error(t, err)
	assert.True(t, neverSent(err), "%v", err)
	assert.Equal(t, int32(3), attempts.Load())
	assert.Contains(t, err.Error(), "incr trading:n:")
}

// attemptCounter is a go-redis hook added after the client's own, so it sees
// every attempt of the retry loop and every dial.
type attemptCounter struct {
	process, dial *atomic.Int32
	onProcess     func(cmd redis.Cmder)
}

func (h attemptCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h.dial != nil {
			h.dial.Add(1)
		}
		return next(ctx, network, addr)
	}
}

func (h attemptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.process != nil {
			h.process.Add(1)
		}
		if h.onProcess != nil {
			h.onProcess(cmd)
		}
		return next(ctx, cmd)
	}
}

func (h attemptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.process != nil {
			h.process.Add(1)
		}
		return next(ctx, cmds)
	}
}

func TestRetryErrorNamesOperation(t *testing.T) {
	c, mr := newMiniredisClient(t, Options{Retry: fastRetry})
	s := scriptServer(mr)
	s.set(failFirst("GET", 100, "LOADING Redis is loading the dataset in memory"))
	err := c.Get(testCtx(t), "k", new(string))
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "get", e.Op)
	assert.True(t, strings.HasPrefix(err.Error(), "redisclient: get trading:k: LOADING"), err.Error())
}

// Stream consumers tell a missing or existing group by the reply's code,
// like every other reply check: only a Redis error reply counts.
func TestReplyCode(t *testing.T) {
	busy := replyErr("BUSYGROUP Consumer Group name already exists")
	noGroup := replyErr("NOGROUP No such key 'orders' or consumer group 'g' in XREADGROUP with GROUP option")
	assert.Equal(t, "BUSYGROUP", replyCode(busy))
	assert.Equal(t, "NOGROUP", replyCode(fmt.Errorf("read: %w", noGroup)))
	assert.Equal(t, "", replyCode(nil))
	assert.Equal(t, "", replyCode(errors.New("NOGROUP but not from Redis")))
	assert.True(t, isBusyGroup(busy))
	assert.False(t, isBusyGroup(noGroup))
	assert.True(t, isNoGroup(fmt.Errorf("read: %w", noGroup)))
	assert.False(t, isNoGroup(io.EOF))
}
