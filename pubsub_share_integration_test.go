package redisclient

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/systemtrader/redisclient/internal/testkit"
)

// pubsubClients returns the pub/sub connections of a server as CLIENT LIST
// TYPE pubsub reports them: the channels and patterns each is subscribed to.
func pubsubClients(t testing.TB, ctx context.Context, rdb *redis.Client) []struct{ sub, psub int } {
	t.Helper()
	out, err := rdb.Do(ctx, "client", "list", "type", "pubsub").Text()
	require.NoError(t, err)
	var clients []struct{ sub, psub int }
	for line := range strings.Lines(out) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var c struct{ sub, psub int }
		for f := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "sub":
				c.sub, _ = strconv.Atoi(v)
			case "psub":
				c.psub, _ = strconv.Atoi(v)
			}
		}
		clients = append(clients, c)
	}
	return clients
}

// TestIntegrationSubscriptionsShareConnections: 1000 subscriptions of a
// client and its views use one server connection (CLIENT LIST), no goroutine
// each, and all receive; closing half unsubscribes exactly the channels only
// they had; closing the rest closes the connection. They used to take 1000
// connections and 3000 goroutines.
func TestIntegrationSubscriptionsShareConnections(t *testing.T) {
	srv := testkit.StartServer(t, testkit.Config{})
	admin := srv.Admin()
	c, err := New(Options{Addr: srv.Addr(), Namespace: uniqueNamespace(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx := testCtx(t)

	const n, shared = 1000, 100 // subscriptions; the last ones repeat the first ones' channels
	var mu sync.Mutex
	got := map[int]int{}
	handler := func(i int) Handler {
		return func(_ context.Context, m Message) error {
			mu.Lock()
			got[i]++
			mu.Unlock()
			return nil
		}
	}
	views := []*Client{c, c.Namespace("v")}
	// Subscription i has channel chI or, for some, pattern chI:*; the last
	// `shared` ones subscribe the channels of the first ones again.
	pattern := func(i int) bool { return i%10 == 5 && i >= shared && i < n-shared }
	origin := func(i int) int {
		if i >= n-shared {
			return i - (n - shared)
		}
		return i
	}
	channel := func(i int) string { return "ch" + strconv.Itoa(origin(i)) }
	// expect counts the distinct channels and patterns of the open subscriptions.
	expect := func(open func(int) bool) (chans, pats int) {
		seen := map[int]bool{}
		for i := range n {
			if open(i) && !seen[origin(i)] {
				seen[origin(i)] = true
				if pattern(i) {
					pats++
				} else {
					chans++
				}
			}
		}
		return chans, pats
	}
	before := stableGoroutines()
	subs := make([]*Subscription, n)
	var afterTen int
	for i := range n {
		if i == 10 {
			afterTen = stableGoroutines()
		}
		v := views[origin(i)%2]
		if pattern(i) {
			subs[i], err = v.PSubscribe(ctx, handler(i), channel(i)+":*")
		} else {
			subs[i], err = v.Subscribe(ctx, handler(i), channel(i))
		}
		require.NoError(t, err)
	}
	clients := pubsubClients(t, ctx, admin)
	require.Len(t, clients, 1, "one server connection for %d subscriptions", n)
	wantSub, wantPsub := expect(func(int) bool { return true })
	assert.Equal(t, wantSub, clients[0].sub, "channels subscribed once each")
	assert.Equal(t, wantPsub, clients[0].psub)
	all := stableGoroutines()
	assert.LessOrEqual(t, all, afterTen, "no goroutine per subscription")
	t.Logf("goroutines: %d before, %d with 10 subscriptions, %d with %d", before, afterTen, all, n)

	for i := range n - shared {
		v := views[i%2]
		ch := channel(i)
		if pattern(i) {
			ch += ":x"
		}
		_, err := v.Publish(ctx, ch, "hi")
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	}, waitFor, 10*time.Millisecond, "every subscription got its message")

	// The first half closed: their channels go, except those the shared
	// subscriptions still have.
	for i := range n / 2 {
		require.NoError(t, subs[i].Close())
	}
	wantSub, wantPsub = expect(func(i int) bool { return i >= n/2 })
	require.Eventually(t, func() bool {
		cl := pubsubClients(t, ctx, admin)
		return len(cl) == 1 && cl[0].sub == wantSub && cl[0].psub == wantPsub
	}, waitFor, 10*time.Millisecond, "clients: %+v, want sub=%d psub=%d", pubsubClients(t, ctx, admin), wantSub, wantPsub)
	for i := n / 2; i < n; i++ {
		require.NoError(t, subs[i].Close())
	}
	require.Eventually(t, func() bool { return len(pubsubClients(t, ctx, admin)) == 0 }, waitFor, 10*time.Millisecond)
	assert.LessOrEqual(t, settleGoroutines(before), before)
}

// TestIntegrationHostilePayloadsOnSharedConnection: whatever a publisher
// sends on one channel (8 MB, binary, RESP-looking text, empty, values the
// decoder refuses) reaches that channel's subscription byte for byte, and
// the other subscriptions on the shared connection, interleaved with it, get
// every message in order, without a reconnect.
func TestIntegrationHostilePayloadsOnSharedConnection(t *testing.T) {
	c := newRealClient(t, Options{})
	ctx := testCtx(t)
	payloads := [][]byte{
		bytes.Repeat([]byte{0xff, 0x00, '\r', '\n'}, 2<<20),
		[]byte("*3\r\n$7\r\nmessage\r\n$4\r\nfine\r\n$5\r\nforged\r\n"),
		[]byte("-ERR forged\r\n"),
		{},
		{0x80, 0x04, 0x95},
	}
	for _, hv := range hostileValues("msgpack") {
		payloads = append(payloads, hv.data)
	}
	hostile := make(chan []byte, len(payloads))
	hsub, err := c.SubscribeWith(ctx, SubscribeOptions{OnError: func(error) {}}, func(_ context.Context, m Message) error {
		hostile <- m.Payload
		var v any
		return m.Decode(&v) // refused or not, the next message comes

	}, "hostile")
	require.NoError(t, err)
	closeSub(t, hsub)
	fine, inbox := orderedInbox(len(payloads) * 2)
	fsub, err := c.Subscribe(ctx, fine, "fine")
	require.NoError(t, err)
	closeSub(t, fsub)
	psub, err := c.PSubscribe(ctx, func(context.Context, Message) error { return nil }, "*")
	require.NoError(t, err)
	closeSub(t, psub)

	for i, p := range payloads {
		_, err := c.Publish(ctx, "hostile", p)
		require.NoError(t, err)
		_, err = c.Publish(ctx, "fine", i)
		require.NoError(t, err)
	}
	for i, want := range payloads {
		select {
		case p := <-hostile:
			require.True(t, bytes.Equal(want, p), "payload %d: %d bytes, want %d", i, len(p), len(want))
		case <-time.After(waitFor):
			t.Fatalf("hostile payload %d not received", i)
		}
	}
	assert.Zero(t, outOfOrder(t, "fine", len(payloads), inbox))
	for _, s := range []*Subscription{hsub, fsub, psub} {
		assert.Zero(t, s.Stats().Reconnects)
		assert.Zero(t, s.Stats().Dropped)
	}
	assert.EqualValues(t, len(payloads)*2, psub.Stats().Received)
}

// TestClusterSubscriptionsShareConnectionPerNode: on a cluster, 300
// subscriptions whose channels spread over every master take at most one
// connection per master (the master of each one's first channel, as before),
// and each receives what is published to its channel's master.
func TestClusterSubscriptionsShareConnectionPerNode(t *testing.T) {
	c := newClusterClient(t, Options{})
	ctx := testCtx(t)
	cc := clusterOf(t, c)
	top := clusterTopologyOf(t, ctx, cc)
	var mu sync.Mutex
	count := func() map[string]int {
		out := map[string]int{}
		err := cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			n := len(pubsubClients(t, ctx, node))
			mu.Lock()
			out[node.Options().Addr] = n
			mu.Unlock()
			return nil
		})
		require.NoError(t, err)
		return out
	}
	base := count()
	chans := spreadKeys(t, ctx, cc, top, "share:", 1, keyUnder(c))
	for i := len(chans); i < 300; i++ {
		chans = append(chans, "share:"+strconv.Itoa(i))
	}
	var mu2 sync.Mutex
	got := map[string]int{}
	for _, ch := range chans {
		s, err := c.Subscribe(ctx, func(_ context.Context, m Message) error {
			mu2.Lock()
			got[m.Channel]++
			mu2.Unlock()
			return nil
		}, ch)
		require.NoError(t, err)
		closeSub(t, s)
	}
	now := count()
	for _, m := range top.masters {
		assert.LessOrEqual(t, now[m]-base[m], 1, "pub/sub connections on %s: %d before, %d with %d subscriptions", m, base[m], now[m], len(chans))
	}
	for _, ch := range chans {
		_, err := c.Publish(ctx, ch, "x")
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		mu2.Lock()
		defer mu2.Unlock()
		return len(got) == len(chans)
	}, waitFor, 10*time.Millisecond)
}

// TestIntegrationSharedSubscribeACLRefusals: on a shared connection, a
// Subscribe whose channel the ACL refuses fails with the server's NOPERM,
// also among concurrent Subscribe calls that succeed, and the others keep
// receiving. A user without +unsubscribe (the rule before subscriptions
// shared a connection) can still close subscriptions: the refusal is
// tolerated, the connection is not dropped and the rest keep receiving.
func TestIntegrationSharedSubscribeACLRefusals(t *testing.T) {
	const pw = "acl-test-password"
	srv := testkit.StartServer(t, testkit.Config{Lines: []string{
		"user app on >" + pw + " resetchannels &trading:ok* -@all +ping +publish +subscribe +psubscribe +unsubscribe +punsubscribe",
		"user old on >" + pw + " resetchannels &trading:ok* -@all +ping +publish +subscribe +psubscribe",
	}})
	ctx := testCtx(t)

	c, err := New(Options{Addr: srv.Addr(), Username: "app", Password: pw})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	h := newCounter()
	var wg sync.WaitGroup
	errs := make([]error, 20)
	subs := make([]*Subscription, 20)
	for i := range subs {
		wg.Go(func() {
			ch := "ok" + strconv.Itoa(i)
			if i%4 == 3 {
				ch = "denied" + strconv.Itoa(i)
			}
			subs[i], errs[i] = c.Subscribe(ctx, h.handle, ch)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%4 == 3 {
			require.Error(t, err, "subscription %d", i)
			assert.Contains(t, err.Error(), "NOPERM")
			assert.Contains(t, err.Error(), "subscribe trading:denied"+strconv.Itoa(i))
			continue
		}
		require.NoError(t, err, "subscription %d", i)
		closeSub(t, subs[i])
	}
	for i := range subs {
		if i%4 != 3 {
			_, err := c.Publish(ctx, "ok"+strconv.Itoa(i), "x")
			require.NoError(t, err)
		}
	}
	require.Eventually(t, func() bool {
		for i := range subs {
			if i%4 != 3 && h.count("ok"+strconv.Itoa(i), "x") != 1 {
				return false
			}
		}
		return true
	}, waitFor, 5*time.Millisecond)
	for i, s := range subs {
		if s != nil {
			assert.Zero(t, s.Stats().Reconnects, "subscription %d", i)
		}
	}

	// The old rule: closing one of two subscriptions sends an UNSUBSCRIBE
	// the server refuses.
	old, err := New(Options{Addr: srv.Addr(), Username: "old", Password: pw})
	require.NoError(t, err)
	t.Cleanup(func() { _ = old.Close() })
	ho := newCounter()
	a, err := old.Subscribe(ctx, ho.handle, "ok-a")
	require.NoError(t, err)
	b, err := old.Subscribe(ctx, ho.handle, "ok-b")
	require.NoError(t, err)
	closeSub(t, b)
	require.NoError(t, a.Close())
	require.Eventually(t, func() bool { return len(srv.ACLLog(t)) > 0 }, waitFor, 5*time.Millisecond, "the refusal reached the server")
	c2, err := old.Subscribe(ctx, ho.handle, "ok-a") // subscribed again on the same connection
	require.NoError(t, err)
	closeSub(t, c2)
	for _, ch := range []string{"ok-a", "ok-b"} {
		_, err := old.Publish(ctx, ch, "y")
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return ho.count("ok-a", "y") == 1 && ho.count("ok-b", "y") == 1 }, waitFor, 5*time.Millisecond)
	assert.Zero(t, b.Stats().Reconnects)
	assert.Len(t, pubsubClients(t, ctx, srv.Admin()), 2, "one connection per client")
}
