package redisclient

import (
	"context"
	"errors"
	"iter"

	"github.com/redis/go-redis/v9"
)

// scanBatch is the COUNT hint of the SCAN behind Scan. FlushNamespace pages
// its SCAN and UNLINKs by flushPage instead.
const scanBatch = 500

// scanAll calls fn with each batch of full keys matching pattern, on every
// master of a cluster, one master after the other. A master that fails does
// not stop the others; their failures come back in a *ClusterError. fn runs
// on the caller's goroutine (Scan yields from it); when it returns
// errStopScan, scanning ends there.
func (c *Client) scanAll(ctx context.Context, pattern string, fn func(keys []string) error) error {
	return c.eachNode(ctx, func(ctx context.Context, node redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, pattern, scanBatch).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				if err := fn(keys); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	})
}

var errStopScan = errors.New("scan stopped")

// Scan iterates over the keys of this namespace that match the glob pattern
// match ("" or "*" for all), yielding them without the namespace prefix. It
// uses SCAN, never KEYS, and covers every master of a cluster. A key may be
// yielded twice if it is written during the scan, as SCAN guarantees. An
// error is yielded last: on a cluster, a *ClusterError (wrapped in an *Error)
// naming the masters that could not be scanned, after the keys of all the
// others.
func (c *Client) Scan(ctx context.Context, match string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := c.usable("scan", c.ns); err != nil {
			yield("", err)
			return
		}
		if match == "" {
			match = "*"
		}
		pattern := escapeGlob(c.prefix) + match
		err := c.scanAll(ctx, pattern, func(keys []string) error {
			for _, k := range keys {
				if !yield(c.strip(k), nil) {
					return errStopScan
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopScan) {
			yield("", opErr("scan", pattern, err))
		}
	}
}
