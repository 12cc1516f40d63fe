package redisclient

import "sync"

// registry tracks the live subscriptions or consumers of one pool so
// Client.Close can close them all. The zero value is ready to use.
type registry[T interface {
	comparable
	Close() error
}] struct {
	mu     sync.Mutex
	closed bool
	live   map[T]struct{}
}

// add registers v. It fails with ErrClosed when the pool is closing, and
// with conflict's error when conflict (may be nil) refuses a live member.
func (r *registry[T]) add(v T, conflict func(live T) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if conflict != nil {
		for o := range r.live {
			if err := conflict(o); err != nil {
				return err
			}
		}
	}
	if r.live == nil {
		r.live = make(map[T]struct{})
	}
	r.live[v] = struct{}{}
	return nil
}

func (r *registry[T]) remove(v T) {
	r.mu.Lock()
	delete(r.live, v)
	r.mu.Unlock()
}

// each calls f for every live member, under the registry's lock.
func (r *registry[T]) each(f func(T)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for v := range r.live {
		f(v)
	}
}

// closeAll closes every live member in parallel and waits for them;
// members added later are refused.
func (r *registry[T]) closeAll() {
	r.mu.Lock()
	r.closed = true
	live := make([]T, 0, len(r.live))
	for v := range r.live {
		live = append(live, v)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, v := range live {
		wg.Go(func() { _ = v.Close() })
	}
	wg.Wait()
}
