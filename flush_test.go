package redisclient

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// unlinkRecorder records the key count of every UNLINK sent, alone or in a
// pipeline.
type unlinkRecorder struct {
	mu    sync.Mutex
	sizes []int
}

func (r *unlinkRecorder) note(cmd redis.Cmder) {
	if cmd.Name() != "unlink" {
		return
	}
	r.mu.Lock()
	r.sizes = append(r.sizes, len(cmd.Args())-1)
	r.mu.Unlock()
}

func (r *unlinkRecorder) recorded() (commands, keys int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.sizes {
		keys += n
	}
	return len(r.sizes), keys
}

func (r *unlinkRecorder) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *unlinkRecorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { r.note(cmd); return next(ctx, cmd) }
}
func (r *unlinkRecorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			r.note(cmd)
		}
		return next(ctx, cmds)
	}
}

// TestFlushNamespaceUnlinksAPageAtATime: FlushNamespace used to send one
// UNLINK per key, which cost about four times the bytes of a multi-key
// UNLINK per SCAN page and 1.5x its time.
func TestFlushNamespaceUnlinksAPageAtATime(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		const keys = 2500
		values := make(map[string]any, keys)
		for i := range keys {
			values[fmt.Sprint(i)] = i
		}
		require.NoError(t, c.MSet(ctx, values, 0))
		rec := &unlinkRecorder{}
		c.Redis().AddHook(rec)

		n, err := c.FlushNamespace(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(keys), n)
		commands, unlinked := rec.recorded()
		assert.Equal(t, keys, unlinked)
		// SCAN's COUNT is a hint: allow pages of half the size asked for.
		assert.LessOrEqual(t, commands, 2*keys/flushPage+1, "UNLINK commands for %d keys", keys)
		left := 0
		for _, err := range c.Scan(ctx, "*") {
			require.NoError(t, err)
			left++
		}
		assert.Zero(t, left)
	})
}

// TestClusterFlushUnlinksPerSlot: on a cluster a page's keys are grouped by
// hash slot, one UNLINK per slot, so keys under one hash tag go in one
// command where they used to go one per key.
func TestClusterFlushUnlinksPerSlot(t *testing.T) {
	rec := &unlinkRecorder{}
	c := newClusterClientWith(t, Options{}, func(cc *redis.ClusterClient) {
		cc.OnNewNode(func(node *redis.Client) { node.AddHook(rec) })
	})
	ctx := testCtx(t)
	tagged := c.HashTag("t")
	values := map[string]any{}
	for i := range 300 {
		values[fmt.Sprint(i)] = i
	}
	require.NoError(t, tagged.MSet(ctx, values, 0))
	require.NoError(t, c.Set(ctx, "loose-a", 1, 0))
	require.NoError(t, c.Set(ctx, "loose-b", 1, 0))
	require.NoError(t, c.Set(ctx, "loose-c", 1, 0))
	rec.mu.Lock()
	rec.sizes = nil
	rec.mu.Unlock()

	n, err := c.FlushNamespace(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(303), n)
	commands, unlinked := rec.recorded()
	assert.Equal(t, 303, unlinked)
	assert.LessOrEqual(t, commands, 1+3, "the tagged keys share one UNLINK, each loose key has its own slot")
}
