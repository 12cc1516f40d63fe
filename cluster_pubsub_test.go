package redisclient

import (
	"bufio"
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// orderedInbox collects the payloads one subscription receives.
func orderedInbox(n int) (Handler, <-chan string) {
	ch := make(chan string, n)
	return func(_ context.Context, m Message) error {
		ch <- string(m.Payload)
		return nil
	}, ch
}

// outOfOrder counts the messages of got that arrived after a higher number,
// and checks that every one of 0..n-1 came.
func outOfOrder(t *testing.T, name string, n int, got <-chan string) int {
	t.Helper()
	late := 0
	last := -1
	deadline := time.After(30 * time.Second)
	for i := range n {
		select {
		case p := <-got:
			v, err := strconv.Atoi(p)
			require.NoError(t, err)
			if v < last {
				late++
			}
			last = max(last, v)
		case <-deadline:
			t.Fatalf("%s: %d of %d messages arrived", name, i, n)
		}
	}
	return late
}

// TestClusterPubSubOrder: one publisher's messages to one channel arrive in
// publish order on a cluster, for a subscriber on the channel's node and for
// one whose connection is on another master (messages reach it over the
// cluster bus), and for a pattern. PUBLISH used to go to the masters in
// turn, so messages took different paths and overtook each other (61 of
// 1000 out of order).
func TestClusterPubSubOrder(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	const n = 10000
	chans := spreadKeys(t, ctx, cc, top, "ticks:", 1, keyUnder(c))
	target := chans[0]
	var elsewhere string // a channel of another master, subscribed first
	for _, ch := range chans[1:] {
		if top.ownerOf(t, ctx, cc, c.Key(ch)) != top.ownerOf(t, ctx, cc, c.Key(target)) {
			elsewhere = ch
			break
		}
	}
	require.NotEmpty(t, elsewhere)

	opts := SubscribeOptions{BufferSize: n}
	hOwn, own := orderedInbox(n)
	hFar, far := orderedInbox(n)
	hPat, pat := orderedInbox(n)
	for _, s := range []struct {
		pattern bool
		h       Handler
		names   []string
	}{
		{false, hOwn, []string{target}},
		{false, hFar, []string{elsewhere, target}}, // connected to elsewhere's master
		{true, hPat, []string{"ticks:*"}},
	} {
		var sub *Subscription
		var err error
		if s.pattern {
			sub, err = c.PSubscribeWith(ctx, opts, s.h, s.names...)
		} else {
			sub, err = c.SubscribeWith(ctx, opts, s.h, s.names...)
		}
		require.NoError(t, err)
		t.Cleanup(func() { _ = sub.Close() })
	}

	pctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range n {
		_, err := c.Publish(pctx, target, i)
		require.NoError(t, err)
	}
	for name, inbox := range map[string]<-chan string{"subscriber on the channel's node": own,
		"subscriber on another node": far, "pattern subscriber": pat} {
		assert.Zero(t, outOfOrder(t, name, n, inbox), "%s: messages out of order", name)
	}
}

// TestClusterInteropPubSub: on a cluster the library keeps classic pub/sub,
// so the Python service, connected to a single node with redis.Redis as the
// original is, still exchanges messages with it both ways, through a node
// other than the channel's (the cluster bus carries them).
func TestClusterInteropPubSub(t *testing.T) {
	requirePython(t, "redis")
	opts := PythonCompatOptions()
	c := newClusterClient(t, opts)
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	owner := top.ownerOf(t, ctx, cc, c.Key("signals"))
	var other string
	for _, m := range top.masters {
		if m != owner {
			other = m
		}
	}
	url := "redis://" + other + "/0"

	// Python publishes through another node; the Go subscription is on the
	// channel's master.
	msgs := make(chan Message, 10)
	sub, err := c.Subscribe(ctx, func(_ context.Context, m Message) error {
		msgs <- m
		return nil
	}, "signals")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	var published struct {
		Messages []pyTagged `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(runPython(t, ctx, nil, "pypubsub.py", url, c.Name(), "publish", "signals"), &published))
	for i, tagged := range published.Messages {
		select {
		case m := <-msgs:
			want, err := tagged.canonical()
			require.NoError(t, err)
			var got any
			require.NoError(t, m.Decode(&got))
			assertPyEqual(t, want, got, "message %d", i)
		case <-ctx.Done():
			t.Fatalf("message %d from Python not received", i)
		}
	}

	// Go publishes (to the channel's master); Python listens on another node.
	cmd := pythonCommand(ctx, "pypubsub.py", url, c.Name(), "subscribe", "signals", "3", "8")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr testkit.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewReader(stdout)
	ready, err := lines.ReadString('\n')
	require.NoError(t, err, "python subscriber: %s", stderr.String())
	require.Equal(t, "ready\n", ready)
	for i := range 3 {
		_, err := c.Publish(ctx, "signals", []int{i, i + 1})
		require.NoError(t, err)
	}
	for i := range 3 {
		line, err := lines.ReadBytes('\n')
		require.NoError(t, err, "python subscriber: %s", stderr.String())
		var tagged pyTagged
		require.NoError(t, json.Unmarshal(line, &tagged))
		got, err := tagged.canonical()
		require.NoError(t, err)
		assertPyEqual(t, []any{int64(i), int64(i + 1)}, got, "message %d", i)
	}
	require.NoError(t, cmd.Wait(), stderr.String())
}
