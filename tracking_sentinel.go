package redisclient

import (
	"context"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// sentinelWatch asks the sentinels which server is the master.
type sentinelWatch struct {
	name      string
	sentinels []*redis.SentinelClient
}

func newSentinelWatch(o Options, timeout time.Duration) *sentinelWatch {
	w := &sentinelWatch{name: o.MasterName}
	for _, addr := range o.SentinelAddrs {
		w.sentinels = append(w.sentinels, redis.NewSentinelClient(&redis.Options{
			Addr: addr, Username: o.SentinelUsername, Password: o.SentinelPassword, TLSConfig: o.TLSConfig,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, PoolSize: 1, MaxRetries: -1,
		}))
	}
	return w
}

// master returns the master's host:port as the first sentinel that
// answers names it, or "" when none answers.
func (w *sentinelWatch) master(ctx context.Context) string {
	for _, s := range w.sentinels {
		hp, err := s.GetMasterAddrByName(ctx, w.name).Result()
		if err == nil && len(hp) == 2 {
			return net.JoinHostPort(hp[0], hp[1])
		}
	}
	return ""
}

func (w *sentinelWatch) close() {
	for _, s := range w.sentinels {
		_ = s.Close()
	}
}

// followSentinel moves the tracking connection to the master the sentinels
// name when it is on another server. A failover normally closes it (the
// sentinels kill the clients of a demoted master), but a server cut off
// from the sentinels, not from this client, keeps it open while the client
// writes and reads elsewhere. Checked every PingInterval.
func (t *tracking) followSentinel(w *sentinelWatch) {
	defer t.wg.Done()
	defer w.close()
	tick := time.NewTicker(t.ping)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
		master := w.master(t.ctx)
		if master == "" {
			continue
		}
		t.mu.Lock()
		n := t.nodes[""]
		t.mu.Unlock()
		if n == nil {
			continue
		}
		on, _ := n.remote.Load().(string)
		if on == "" || sameServer(t.ctx, on, master) {
			continue
		}
		t.log.Warn("redisclient: near cache tracking connection is not on the master the sentinels name, moving it", "on", on, "master", master)
		t.mu.Lock()
		if !t.closed && t.nodes[""] == n {
			t.stopNode(n)
			t.startNode("", t.base)
		}
		t.mu.Unlock()
	}
}

// sameServer reports whether the address a connection reached (ip:port)
// is the host:port a sentinel named, resolving a host name. When in doubt
// it says yes: moving the connection for nothing would flush the cache
// every PingInterval.
func sameServer(ctx context.Context, connected, named string) bool {
	chost, cport, err1 := net.SplitHostPort(connected)
	nhost, nport, err2 := net.SplitHostPort(named)
	if err1 != nil || err2 != nil {
		return true
	}
	if cport != nport {
		return false
	}
	cip := net.ParseIP(chost)
	if cip == nil {
		return true
	}
	if nip := net.ParseIP(nhost); nip != nil {
		return cip.Equal(nip)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", nhost)
	if err != nil {
		return true
	}
	for _, ip := range ips {
		if ip.Equal(cip) {
			return true
		}
	}
	return false
}
