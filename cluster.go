package redisclient

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// eachMaster runs fn on every master of the cluster, as the cluster reports
// them now: all at once when parallel, else one after the other. A master
// whose fn fails does not stop the others; the failures come back as a
// *ClusterError naming each master. Only errStopScan ends the walk early.
func eachMaster(ctx context.Context, cc *redis.ClusterClient, parallel bool, fn func(context.Context, *redis.Client) error) error {
	var mu sync.Mutex
	var masters []*redis.Client
	// ForEachMaster re-reads the slot map first, so a master replaced by a
	// failover is not visited.
	if err := cc.ForEachMaster(ctx, func(_ context.Context, node *redis.Client) error {
		mu.Lock()
		masters = append(masters, node)
		mu.Unlock()
		return nil
	}); err != nil {
		return err
	}
	slices.SortFunc(masters, func(a, b *redis.Client) int { return strings.Compare(a.Options().Addr, b.Options().Addr) })

	ce := &ClusterError{}
	record := func(node *redis.Client, err error) {
		mu.Lock()
		defer mu.Unlock()
		addr := node.Options().Addr
		if err == nil {
			ce.Done = append(ce.Done, addr)
			return
		}
		if ce.Failed == nil {
			ce.Failed = make(map[string]error)
		}
		ce.Failed[addr] = err
	}
	if parallel {
		var wg sync.WaitGroup
		for _, node := range masters {
			wg.Go(func() { record(node, fn(ctx, node)) })
		}
		wg.Wait()
	} else {
		for _, node := range masters {
			err := fn(ctx, node)
			if errors.Is(err, errStopScan) {
				return err
			}
			record(node, err)
		}
	}
	if len(ce.Failed) == 0 {
		return nil
	}
	slices.Sort(ce.Done)
	return ce
}
