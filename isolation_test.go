package redisclient

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// Names that differ only in an invalid UTF-8 byte: walking runes turned the
// first into the second (U+FFFD), so their SCAN patterns were the same.
const (
	badUTF8  = "\xff*"
	lookLike = "\uFFFD*"
)

func TestEscapeGlobWorksOnBytes(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          "plain",
		`a*b?c[d]e\f`:    `a\*b\?c\[d\]e\\f`,
		"\xff*":          "\xff\\*",
		"\xff\xfe":       "\xff\xfe",
		"é*\xc3":         "é\\*\xc3",
		"\uFFFD*":        "\uFFFD\\*",
		"x\x00[":         "x\x00\\[",
		"trading:model:": "trading:model:",
	} {
		assert.Equal(t, want, escapeGlob(in), "escapeGlob(%q)", in)
	}
}

// newRealPair returns two clients on the integration server whose namespaces
// are base+a and base+b.
func newRealPair(t *testing.T, a, b string) (*Client, *Client) {
	t.Helper()
	base := uniqueNamespace(t)
	return newRealClient(t, Options{Namespace: base + a}), newRealClient(t, Options{Namespace: base + b})
}

// miniredis cannot take these patterns (its glob-to-regexp translation
// panics on invalid UTF-8), so the invalid UTF-8 tests need a real server,
// which matches bytes.
func TestIntegrationInvalidUTF8NamesStayIsolated(t *testing.T) {
	ctx := testCtx(t)

	t.Run("namespace", func(t *testing.T) {
		a, b := newRealPair(t, badUTF8, lookLike)
		require.NoError(t, a.Set(ctx, "k", "a", 0))
		require.NoError(t, b.Set(ctx, "k", "b", 0))
		var keys []string
		for k, err := range a.Scan(ctx, "*") {
			require.NoError(t, err)
			keys = append(keys, k)
		}
		assert.Equal(t, []string{"k"}, keys, "Scan lists only its own namespace")
		n, err := a.FlushNamespace(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 1, n)
		var s string
		assert.ErrorIs(t, a.Get(ctx, "k", &s), ErrNotFound, "own key flushed")
		require.NoError(t, b.Get(ctx, "k", &s), "the other namespace's key survives")
		assert.Equal(t, "b", s)
	})

	t.Run("child namespace", func(t *testing.T) {
		parent := newRealClient(t, Options{})
		a, b := parent.Namespace(badUTF8), parent.Namespace(lookLike)
		require.NoError(t, a.Set(ctx, "k", "a", 0))
		require.NoError(t, b.Set(ctx, "k", "b", 0))
		n, err := a.FlushNamespace(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 1, n)
		var s string
		require.NoError(t, b.Get(ctx, "k", &s))
		assert.Equal(t, "b", s)
	})

	t.Run("model name", func(t *testing.T) {
		c := newRealClient(t, Options{})
		require.NoError(t, c.CacheModelPrediction(ctx, badUTF8, "h1", "a", 0))
		require.NoError(t, c.CacheModelPrediction(ctx, lookLike, "h1", "b", 0))
		n, err := c.InvalidateModel(ctx, badUTF8)
		require.NoError(t, err)
		assert.EqualValues(t, 1, n)
		var s string
		assert.ErrorIs(t, c.GetCachedModelPrediction(ctx, badUTF8, "h1", &s), ErrNotFound)
		require.NoError(t, c.GetCachedModelPrediction(ctx, lookLike, "h1", &s))
		assert.Equal(t, "b", s)
	})

	t.Run("key", func(t *testing.T) {
		c := newRealClient(t, Options{})
		require.NoError(t, c.Set(ctx, badUTF8, "a", 0))
		require.NoError(t, c.Set(ctx, lookLike, "b", 0))
		var s string
		require.NoError(t, c.Get(ctx, badUTF8, &s))
		assert.Equal(t, "a", s)
		var keys []string
		for k, err := range c.Scan(ctx, "\xff*") {
			require.NoError(t, err)
			keys = append(keys, k)
		}
		assert.Equal(t, []string{badUTF8}, keys, "a caller's pattern is matched byte for byte")
		n, err := c.Delete(ctx, badUTF8)
		require.NoError(t, err)
		assert.EqualValues(t, 1, n)
		require.NoError(t, c.Get(ctx, lookLike, &s))
		assert.Equal(t, "b", s)
	})

	t.Run("channel", func(t *testing.T) {
		c := newRealClient(t, Options{})
		h, ch := collect(10)
		sub, err := c.Subscribe(ctx, h, "\xff")
		require.NoError(t, err)
		closeSub(t, sub)
		n, err := c.Publish(ctx, "\uFFFD", "other")
		require.NoError(t, err)
		assert.Zero(t, n)
		n, err = c.Publish(ctx, "\xff", "own")
		require.NoError(t, err)
		assert.EqualValues(t, 1, n)
		m := recvMsg(t, ch)
		assert.Equal(t, "\xff", m.Channel)
		assert.Equal(t, "own", string(m.Payload))
	})

	t.Run("psubscribe in namespace", func(t *testing.T) {
		a, b := newRealPair(t, badUTF8, lookLike)
		h, ch := collect(10)
		sub, err := a.PSubscribe(ctx, h, "*")
		require.NoError(t, err)
		closeSub(t, sub)
		n, err := b.Publish(ctx, "signals", "B's news")
		require.NoError(t, err)
		assert.Zero(t, n, "a pattern subscriber must not receive another namespace's message")
		n, err = a.Publish(ctx, "signals", "A's news")
		require.NoError(t, err)
		assert.EqualValues(t, 1, n)
		m := recvMsg(t, ch)
		assert.Equal(t, "signals", m.Channel)
		assert.Equal(t, "*", m.Pattern)
		assert.Equal(t, "A's news", string(m.Payload), "the first message is A's: B's never came")
	})

	t.Run("psubscribe pattern", func(t *testing.T) {
		c := newRealClient(t, Options{})
		h, ch := collect(10)
		sub, err := c.PSubscribe(ctx, h, "\xff*")
		require.NoError(t, err)
		closeSub(t, sub)
		n, err := c.Publish(ctx, "\uFFFDx", "other")
		require.NoError(t, err)
		assert.Zero(t, n)
		n, err = c.Publish(ctx, "\xffx", "own")
		require.NoError(t, err)
		assert.EqualValues(t, 1, n)
		m := recvMsg(t, ch)
		assert.Equal(t, "\xffx", m.Channel)
		assert.Equal(t, "\xff*", m.Pattern)
	})
}

func TestMultiCharacterSeparatorAmbiguity(t *testing.T) {
	c, _ := newMiniredisClient(t, Options{Separator: "::"})
	ctx := testCtx(t)
	// ("a:", "h") and ("a", ":h") both joined to "trading::model::a:::h".
	require.NoError(t, c.CacheModelPrediction(ctx, "a", "h", "a's", 0))
	assert.ErrorIs(t, c.CacheModelPrediction(ctx, "a:", "h", "x", 0), ErrInvalidKey)
	assert.ErrorIs(t, c.CacheModelPrediction(ctx, "a", ":h", "x", 0), ErrInvalidKey)
	_, err := c.InvalidateModel(ctx, "a:")
	assert.ErrorIs(t, err, ErrInvalidKey)
	assert.ErrorIs(t, c.Namespace("x:").Set(ctx, "k", "v", 0), ErrInvalidKey)
	_, err = New(Options{Namespace: "trading:", Separator: "::"})
	assert.ErrorIs(t, err, ErrInvalidOptions)
	// Names that merely contain a lone ":" inside stay valid.
	require.NoError(t, c.CacheModelPrediction(ctx, "v1:beta", "h", "ok", 0))
	require.NoError(t, c.Namespace("eu:west").Set(ctx, "k", "v", 0))
}

func TestSeparable(t *testing.T) {
	for _, tc := range []struct {
		name, sep string
		want      bool
	}{
		{"lstm", ":", true},
		{"a:b", ":", false},
		{"a:", "::", false},
		{":a", "::", false},
		{"a:b", "::", true},
		{"a::b", "::", false},
		{"xa", "ab", true}, // "ab" cannot overlap itself: "abxaab" holds it at the ends only
		{"a", "aa", false},
		{"b", "aba", false}, // "aba"+"b"+"aba" = "abababa": a third "aba" in the middle
		{"c", "aba", true},
		{"", ":", true},
		{"", "aa", false},
	} {
		assert.Equal(t, tc.want, separable(tc.name, tc.sep), "separable(%q, %q)", tc.name, tc.sep)
	}
}

// isolationAlphabet builds random names and separators. It leaves out
// invalid UTF-8 and the letters E and Q, which miniredis's glob translation
// mishandles after a backslash (it builds a \Q...\E regexp); the real-server
// run covers the rest.
var isolationAlphabet = []string{":", ":", ":", "a", "a", "b", "/", "*", "?", "[", "]", `\`, "é", "x"}

func randomName(rng *rand.Rand, maxLen int) string {
	return randomFrom(rng, isolationAlphabet, maxLen)
}

func randomFrom(rng *rand.Rand, alphabet []string, maxLen int) string {
	var b strings.Builder
	for range 1 + rng.IntN(maxLen) {
		b.WriteString(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

// nearSeparator returns an alphabet made mostly of the separator's own
// bytes, so random names often run into it.
func nearSeparator(sep string) []string {
	out := []string{"a", "*", sep}
	for _, r := range sep { // runes: miniredis needs valid UTF-8
		out = append(out, string(r), string(r))
	}
	return out
}

// TestSeparatorsNeverMakeKeysAmbiguous is a property test over random
// separators and names (seeded, so a failure reproduces): among the names
// the client accepts, distinct (namespace, model, hash) never share a key,
// InvalidateModel removes exactly that model's predictions, and
// FlushNamespace exactly that namespace's keys.
func TestSeparatorsNeverMakeKeysAmbiguous(t *testing.T) {
	t.Run("miniredis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		checkSeparatorProperty(t, mr.Addr(), 200, mr.FlushAll)
	})
	t.Run("redis", func(t *testing.T) {
		ro, err := redis.ParseURL(testkit.RequireEnv(t, testkit.EnvURL))
		require.NoError(t, err)
		raw := redis.NewClient(ro)
		t.Cleanup(func() { _ = raw.Close() })
		// Every namespace of the run starts with base, which holds no byte
		// of the alphabet, so the flush between rounds stays inside the run.
		base := fmt.Sprintf("t%d_%d", os.Getpid(), testNamespaceSeq.Add(1))
		reset := func() {
			ctx := testCtx(t)
			iter := raw.Scan(ctx, 0, escapeGlob(base)+"*", 500).Iterator()
			for iter.Next(ctx) {
				require.NoError(t, raw.Del(ctx, iter.Val()).Err())
			}
			require.NoError(t, iter.Err())
		}
		t.Cleanup(reset)
		checkSeparatorProperty(t, ro.Addr, 40, reset, base)
	})
}

type predictionID struct{ ns, model, hash string }

func checkSeparatorProperty(t *testing.T, addr string, rounds int, reset func(), base ...string) {
	ctx := testCtx(t)
	rng := rand.New(rand.NewPCG(13, uint64(rounds)))
	accepted := 0
	for round := range rounds {
		reset()
		r := &separatorRound{t: t, ctx: ctx, rng: rng, round: round, sep: randomName(rng, 3)}
		r.names = nearSeparator(r.sep)
		r.newClients(addr, base)
		if len(r.clients) == 0 {
			continue
		}
		r.write()
		accepted += len(r.written)
		r.checkReadBack()
		if len(r.written) == 0 {
			continue
		}
		c := r.checkInvalidateModel()
		r.checkFlushNamespace(c)
	}
	// The rule must not reject everything: most random names pass.
	require.Greater(t, accepted, rounds, "too few names accepted for the property to mean anything")
}

// separatorRound is one round of checkSeparatorProperty: up to three
// namespaces under one random separator, with random model and key names
// near it.
type separatorRound struct {
	t       *testing.T
	ctx     context.Context
	rng     *rand.Rand
	round   int
	sep     string
	names   []string
	clients []*Client
	written []predictionID
	plain   map[string][]string // namespace -> plain keys
}

// newClients makes a client for each of three random namespaces that New
// accepts.
func (r *separatorRound) newClients(addr string, base []string) {
	seenNS := map[string]bool{}
	for range 3 {
		ns := randomFrom(r.rng, r.names, 3)
		if len(base) > 0 {
			ns = base[0] + "_" + ns // the prefix joins no separator, so ns stays one level
		}
		if strings.Contains(ns, r.sep) || seenNS[ns] {
			continue // several levels, or a repeat: the property is about distinct single-level namespaces
		}
		seenNS[ns] = true
		c, err := New(Options{Addr: addr, Namespace: ns, Separator: r.sep})
		if err != nil {
			require.ErrorIs(r.t, err, ErrInvalidOptions, "round %d", r.round)
			continue
		}
		r.t.Cleanup(func() { _ = c.Close() })
		r.clients = append(r.clients, c)
	}
}

// write caches predictions of random models and hashes in every namespace,
// failing when two of them share a key, and sets two plain keys in each.
func (r *separatorRound) write() {
	t, ctx := r.t, r.ctx
	owner := map[string]predictionID{} // full key -> who wrote it
	r.plain = map[string][]string{}
	var models, hashes []string
	for range 5 {
		models = append(models, randomFrom(r.rng, r.names, 3))
	}
	for range 4 {
		hashes = append(hashes, randomFrom(r.rng, r.names, 3))
	}
	for _, c := range r.clients {
		for _, model := range models {
			for _, hash := range hashes {
				id := predictionID{c.ns, model, hash}
				if slices.Contains(r.written, id) {
					continue
				}
				key, kerr := c.predictionKey("test", model, hash)
				err := c.CacheModelPrediction(ctx, model, hash, fmt.Sprint(id), NoExpiry)
				if err != nil {
					require.ErrorIs(t, err, ErrInvalidKey, "round %d", r.round)
					require.Error(t, kerr)
					continue
				}
				require.NoError(t, kerr)
				if prev, dup := owner[key]; dup {
					t.Fatalf("round %d, separator %q: %+v and %+v share key %q", r.round, r.sep, prev, id, key)
				}
				owner[key] = id
				r.written = append(r.written, id)
			}
		}
		for range 2 {
			k := randomFrom(r.rng, r.names, 4)
			require.NoError(t, c.Set(ctx, k, "plain", NoExpiry))
			r.plain[c.ns] = append(r.plain[c.ns], k)
		}
	}
}

// checkReadBack checks that every prediction reads back as its own.
func (r *separatorRound) checkReadBack() {
	for _, id := range r.written {
		var got string
		require.NoError(r.t, clientOf(r.clients, id.ns).GetCachedModelPrediction(r.ctx, id.model, id.hash, &got))
		require.Equal(r.t, fmt.Sprint(id), got, "round %d, separator %q", r.round, r.sep)
	}
}

// checkInvalidateModel invalidates the model of a random prediction and
// checks that exactly the predictions of that model in that namespace went.
// It returns the client of that namespace.
func (r *separatorRound) checkInvalidateModel() *Client {
	t := r.t
	victim := r.written[r.rng.IntN(len(r.written))]
	c := clientOf(r.clients, victim.ns)
	n, err := c.InvalidateModel(r.ctx, victim.model)
	require.NoError(t, err)
	var want int64
	for _, id := range r.written {
		var got string
		err := clientOf(r.clients, id.ns).GetCachedModelPrediction(r.ctx, id.model, id.hash, &got)
		if id.ns == victim.ns && id.model == victim.model {
			want++
			require.ErrorIs(t, err, ErrNotFound, "round %d, separator %q: %+v survived InvalidateModel(%+v)", r.round, r.sep, id, victim)
		} else {
			require.NoError(t, err, "round %d, separator %q: %+v removed by InvalidateModel(%+v)", r.round, r.sep, id, victim)
		}
	}
	require.Equal(t, want, n, "round %d", r.round)
	return c
}

// checkFlushNamespace flushes c's namespace and checks that exactly its
// keys went.
func (r *separatorRound) checkFlushNamespace(c *Client) {
	t := r.t
	n, err := c.FlushNamespace(r.ctx)
	require.NoError(t, err)
	for _, o := range r.clients {
		for _, k := range r.plain[o.ns] {
			var got string
			err := o.Get(r.ctx, k, &got)
			if o.ns == c.ns {
				require.ErrorIs(t, err, ErrNotFound, "round %d, separator %q: %q survived the flush", r.round, r.sep, o.Key(k))
			} else {
				require.NoError(t, err, "round %d, separator %q: flushing %q removed %q", r.round, r.sep, c.ns, o.Key(k))
			}
		}
	}
	for _, id := range r.written {
		if id.ns == c.ns {
			continue
		}
		var got string
		require.NoError(t, clientOf(r.clients, id.ns).GetCachedModelPrediction(r.ctx, id.model, id.hash, &got),
			"round %d, separator %q: flushing %q removed %+v", r.round, r.sep, c.ns, id)
	}
	require.Positive(t, n)
}

func clientOf(clients []*Client, ns string) *Client {
	for _, c := range clients {
		if c.ns == ns {
			return c
		}
	}
	panic("no client for namespace " + ns)
}

// Names sharing no byte with the separator are always accepted.
func TestSeparableAcceptsNamesWithoutSeparatorBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for range 1000 {
		sep := randomName(rng, 3)
		name := randomName(rng, 6)
		if strings.ContainsAny(name, sep) {
			continue
		}
		require.True(t, separable(name, sep), "separable(%q, %q)", name, sep)
	}
}
