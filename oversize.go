package redisclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis refuses a command argument longer than its proto-max-bulk-len
// (512 MB by default, 1 MB at the least) in a way that looks like an outage:
// it replies "ERR Protocol error: invalid bulk length" and closes the
// connection at once, so the client mostly sees the connection reset while
// it is still writing, or EOF for the commands of a pipeline. Retried and
// counted as connection failures, one oversized MSet opened the circuit
// breaker for every caller.
//
// The size guard below keeps such a request to itself. For a command or
// pipeline with an argument above 1 MB it learns the server's limit (CONFIG
// GET proto-max-bulk-len, remembered for a minute) and fails the commands
// above it with ErrTooLarge before sending them; the other commands of a
// pipeline go out as usual. When the limit cannot be learnt (CONFIG refused
// by an ACL or renamed), a large request whose connection the server closed
// fails with ErrTooLarge instead of a connection error, and the other
// commands of its pipeline that are safe to repeat are sent again. ErrTooLarge
// is never retried and never counts against the breaker.

// minBulkLimit is the smallest proto-max-bulk-len Redis accepts: arguments up
// to it always pass, and need no check.
const minBulkLimit = 1 << 20

// bulkLimitTTL is how long a learnt limit is trusted: CONFIG SET may change it.
const bulkLimitTTL = time.Minute

// sizeGuard is a go-redis hook installed inside the resilience hook, so it
// sees each attempt and its ErrTooLarge ends the retries.
type sizeGuard struct {
	rdb redis.UniversalClient

	mu        sync.Mutex
	limit     int64 // > 0 known; -1 the server will not say; 0 not asked
	fetchedAt time.Time
}

func newSizeGuard(rdb redis.UniversalClient) *sizeGuard { return &sizeGuard{rdb: rdb} }

func (g *sizeGuard) DialHook(next redis.DialHook) redis.DialHook { return next }

func (g *sizeGuard) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		size := largestArg(cmd)
		if size <= minBulkLimit {
			return next(ctx, cmd)
		}
		if err := g.check(ctx, size); err != nil {
			cmd.SetErr(err)
			return err
		}
		err := next(ctx, cmd)
		if err != nil && closedBySize(err) {
			if terr := g.checkAfterClose(ctx, size, err); terr != nil {
				g.dropDeadConn(ctx)
				cmd.SetErr(terr)
				return terr
			}
		}
		return err
	}
}

func (g *sizeGuard) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var big []redis.Cmder // commands with an argument above minBulkLimit
		for _, cmd := range cmds {
			if largestArg(cmd) > minBulkLimit {
				big = append(big, cmd)
			}
		}
		if len(big) == 0 {
			return next(ctx, cmds)
		}
		return g.processBigPipeline(ctx, next, cmds, big)
	}
}

// processBigPipeline runs a pipeline holding commands with large arguments
// (big): it fails the commands the server would refuse and sends the
// others; a transaction is all or nothing.
func (g *sizeGuard) processBigPipeline(ctx context.Context, next redis.ProcessPipelineHook, cmds, big []redis.Cmder) error {
	var refused error
	var bigSent []redis.Cmder
	for _, cmd := range big {
		if err := g.check(ctx, largestArg(cmd)); err != nil {
			cmd.SetErr(err)
			refused = err
		} else {
			bigSent = append(bigSent, cmd)
		}
	}
	send := cmds
	if refused != nil {
		if cmds[0].Name() == "multi" {
			for _, cmd := range cmds {
				cmd.SetErr(refused)
			}
			return refused
		}
		send = make([]redis.Cmder, 0, len(cmds))
		for _, cmd := range cmds {
			if cmd.Err() == nil {
				send = append(send, cmd)
			}
		}
		if len(send) == 0 {
			return refused
		}
	}
	err := next(ctx, send)
	if err == nil {
		return refused
	}
	if !closedBySize(err) {
		return err
	}
	return g.afterPipelineClosed(ctx, next, cmds[0].Name() == "multi", send, bigSent, err)
}

// afterPipelineClosed handles a pipeline whose connection the server closed
// (err): the limit was unknown, or lowered since it was learnt. It fails
// the large commands (bigSent) that broke the limit with ErrTooLarge and
// sends again the other commands of send that may run twice, so the
// oversized ones fail alone; a transaction (tx) stays failed as a whole.
func (g *sizeGuard) afterPipelineClosed(ctx context.Context, next redis.ProcessPipelineHook, tx bool, send, bigSent []redis.Cmder, err error) error {
	var after error
	for _, cmd := range bigSent {
		if cerr := cmd.Err(); cerr == nil || !closedBySize(cerr) {
			continue // it went through, or failed for its own reason
		}
		if terr := g.checkAfterClose(ctx, largestArg(cmd), cmd.Err()); terr != nil {
			cmd.SetErr(terr)
			after = terr
		}
	}
	if after == nil {
		return err
	}
	g.dropDeadConn(ctx)
	if tx {
		return after
	}
	var again []redis.Cmder
	for _, cmd := range send {
		if cerr := cmd.Err(); cerr != nil && !errors.Is(cerr, ErrTooLarge) && closedBySize(cerr) && isIdempotent(cmd) {
			cmd.SetErr(nil)
			again = append(again, cmd)
		}
	}
	if len(again) > 0 {
		_ = next(ctx, again) // their errors, if any, stay on them
	}
	return after
}

// check returns an ErrTooLarge error when the server is known to refuse
// arguments of size bytes.
func (g *sizeGuard) check(ctx context.Context, size int64) error {
	if limit := g.bulkLimit(ctx, false); limit > 0 && size > limit {
		return tooLarge(size, limit)
	}
	return nil
}

// checkAfterClose returns an ErrTooLarge error when the failure err of a
// request with an argument of size bytes came from the server refusing it.
// Its error reply says so; a bare closed connection is checked against the
// limit, asked again, and taken for the reason when the server will not
// tell it.
func (g *sizeGuard) checkAfterClose(ctx context.Context, size int64, err error) error {
	if msg, ok := replyError(err); ok {
		if strings.Contains(msg, bulkRefusal) {
			return fmt.Errorf("%w: the server refused an argument of %d bytes (%s): it is above the server's proto-max-bulk-len", ErrTooLarge, size, msg)
		}
		return nil
	}
	switch limit := g.bulkLimit(ctx, true); {
	case limit > 0 && size > limit:
		return tooLarge(size, limit)
	case limit < 0:
		return fmt.Errorf("%w: the server closed the connection on an argument of %d bytes, as Redis does above its proto-max-bulk-len", ErrTooLarge, size)
	}
	return nil
}

// dropDeadConn takes the connection the server just closed out of the
// pool. After an error reply go-redis keeps a connection, not knowing the
// server closes it next; the next call would then fail on it with EOF and
// count against the breaker. A PING takes the connection put back last,
// fails on it, and so makes go-redis discard it.
func (g *sizeGuard) dropDeadConn(ctx context.Context) {
	for range 2 {
		if err := g.rdb.Ping(bypass(ctx)).Err(); err == nil || !closedBySize(err) {
			return
		}
	}
}

func tooLarge(size, limit int64) error {
	return fmt.Errorf("%w: an argument of %d bytes is above the server's proto-max-bulk-len of %d bytes", ErrTooLarge, size, limit)
}

// bulkLimit returns the server's proto-max-bulk-len, -1 when the server will
// not say, or 0 when it could not be asked (the server is unreachable).
func (g *sizeGuard) bulkLimit(ctx context.Context, refresh bool) int64 {
	g.mu.Lock()
	limit, at := g.limit, g.fetchedAt
	g.mu.Unlock()
	if limit != 0 && !refresh && time.Since(at) < bulkLimitTTL {
		return limit
	}
	vals, err := g.rdb.ConfigGet(bypass(ctx), "proto-max-bulk-len").Result()
	switch {
	case err == nil:
		limit = -1
		if n, perr := strconv.ParseInt(vals["proto-max-bulk-len"], 10, 64); perr == nil && n > 0 {
			limit = n
		}
	case isReply(err): // NOPERM, unknown command: it will not change soon
		limit = -1
	default:
		return 0
	}
	g.mu.Lock()
	g.limit, g.fetchedAt = limit, time.Now()
	g.mu.Unlock()
	return limit
}

// largestArg returns the length of cmd's longest string or []byte argument,
// the only kinds that can approach the limit.
func largestArg(cmd redis.Cmder) int64 {
	var n int
	for _, a := range cmd.Args() {
		switch v := a.(type) {
		case string:
			n = max(n, len(v))
		case []byte:
			n = max(n, len(v))
		}
	}
	return int64(n)
}

// bulkRefusal is the error reply of Redis to an argument above its limit.
const bulkRefusal = "Protocol error: invalid bulk length"

// closedBySize reports whether err is what a client sees when Redis refuses
// a bulk argument: the error reply, or the connection closed under it (EOF,
// reset, broken pipe). Timeouts and failed dials are not.
func closedBySize(err error) bool {
	if msg, ok := replyError(err); ok {
		return strings.Contains(msg, bulkRefusal)
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
