package redisclient

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHashes(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		isNew, err := c.HSet(ctx, "h", "p", samplePrediction())
		require.NoError(t, err)
		assert.True(t, isNew)
		isNew, err = c.HSet(ctx, "h", "p", samplePrediction())
		require.NoError(t, err)
		assert.False(t, isNew)
		require.NoError(t, c.HSetMap(ctx, "h2", map[string]any{"a": 1, "b": 2}))

		var p prediction
		require.NoError(t, c.HGet(ctx, "h", "p", &p))
		assert.Equal(t, samplePrediction(), p.norm())
		err = c.HGet(ctx, "h", "nope", &p)
		require.ErrorIs(t, err, ErrNotFound)
		assert.Contains(t, err.Error(), `field "nope"`)

		var all map[string]int
		require.NoError(t, c.HGetAll(ctx, "h2", &all))
		assert.Equal(t, map[string]int{"a": 1, "b": 2}, all)
		require.NoError(t, c.HGetAll(ctx, "nokey", &all))
		assert.Empty(t, all)
		assert.Error(t, c.HGetAll(ctx, "h2", all), "non-pointer")

		ok, err := c.HExists(ctx, "h2", "a")
		require.NoError(t, err)
		assert.True(t, ok)
		n, err := c.HDel(ctx, "h2", "a", "zz")
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		ok, _ = c.HExists(ctx, "h2", "a")
		assert.False(t, ok)
	})
}

func TestLists(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		n, err := c.RPush(ctx, "l", "b", "c")
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)
		n, err = c.LPush(ctx, "l", "a")
		require.NoError(t, err)
		assert.Equal(t, int64(3), n)
		var all []string
		require.NoError(t, c.LRange(ctx, "l", 0, -1, &all))
		assert.Equal(t, []string{"a", "b", "c"}, all)
		require.NoError(t, c.LTrim(ctx, "l", 0, 1))
		ln, err := c.LLen(ctx, "l")
		require.NoError(t, err)
		assert.Equal(t, int64(2), ln)
		var s string
		require.NoError(t, c.RPop(ctx, "l", &s))
		assert.Equal(t, "b", s)
		require.NoError(t, c.LPop(ctx, "l", &s))
		assert.Equal(t, "a", s)
		assert.ErrorIs(t, c.LPop(ctx, "l", &s), ErrNotFound)

		_, err = c.RPush(ctx, "preds", samplePrediction(), samplePrediction())
		require.NoError(t, err)
		var ps []prediction
		require.NoError(t, c.LRange(ctx, "preds", 0, -1, &ps))
		require.Len(t, ps, 2)
		assert.Equal(t, samplePrediction(), ps[1].norm())
		_, err = c.LPush(ctx, "l")
		assert.Error(t, err, "no values")
	})
}

func TestSets(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		n, err := c.SAdd(ctx, "s", "AAPL", "MSFT", "AAPL")
		require.NoError(t, err)
		assert.Equal(t, int64(2), n)
		var members []string
		require.NoError(t, c.SMembers(ctx, "s", &members))
		sort.Strings(members)
		assert.Equal(t, []string{"AAPL", "MSFT"}, members)
		ok, err := c.SIsMember(ctx, "s", "MSFT")
		require.NoError(t, err)
		assert.True(t, ok)
		n, err = c.SRem(ctx, "s", "MSFT", "GOOG")
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		ok, _ = c.SIsMember(ctx, "s", "MSFT")
		assert.False(t, ok)
		_, err = c.SAdd(ctx, "ints", 1, 2, 3)
		require.NoError(t, err)
		var ints []int
		require.NoError(t, c.SMembers(ctx, "ints", &ints))
		sort.Ints(ints)
		assert.Equal(t, []int{1, 2, 3}, ints)
	})
}

func TestSortedSets(t *testing.T) {
	backends(t, Options{}, func(t *testing.T, c *Client) {
		ctx := testCtx(t)
		for sym, score := range map[string]float64{"AAPL": 3, "MSFT": 1, "GOOG": 2} {
			isNew, err := c.ZAdd(ctx, "z", score, sym)
			require.NoError(t, err)
			assert.True(t, isNew)
		}
		var asc, desc []string
		require.NoError(t, c.ZRange(ctx, "z", 0, -1, false, &asc))
		assert.Equal(t, []string{"MSFT", "GOOG", "AAPL"}, asc)
		require.NoError(t, c.ZRange(ctx, "z", 0, 1, true, &desc))
		assert.Equal(t, []string{"AAPL", "GOOG"}, desc)

		f, err := c.ZIncrBy(ctx, "z", 5, "MSFT")
		require.NoError(t, err)
		assert.Equal(t, 6.0, f)
		ws, err := c.ZRangeWithScores(ctx, "z", 0, -1, true)
		require.NoError(t, err)
		require.Len(t, ws, 3)
		var top string
		require.NoError(t, ws[0].Decode(&top))
		assert.Equal(t, "MSFT", top)
		assert.Equal(t, 6.0, ws[0].Score)
		assert.Equal(t, []byte("MSFT"), ws[0].Raw())

		n, err := c.ZCard(ctx, "z")
		require.NoError(t, err)
		assert.Equal(t, int64(3), n)
		n, err = c.ZRem(ctx, "z", "AAPL", "NONE")
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		n, _ = c.ZCard(ctx, "z")
		assert.Equal(t, int64(2), n)
	})
}
