package gateway

import (
	"context"
	"sync"
	"time"

	"authgate/store"
)

// feedEcho wraps the store so that a revocation made here returns only once
// the store's revocation feed has delivered it back to this instance. Redis
// publishes to every subscriber at once, so by then the other instances
// have it too, and "logout, then the next request on another instance" is
// refused there (SPEC section 4) without any store call on the hot path.
type feedEcho struct {
	store.Store
	wait time.Duration

	mu      sync.Mutex
	waiters map[string][]chan struct{}

	readyOnce sync.Once
	ready     chan struct{} // closed once the feed is first connected
}

func newFeedEcho(st store.Store, wait time.Duration) *feedEcho {
	return &feedEcho{Store: st, wait: wait, waiters: map[string][]chan struct{}{}, ready: make(chan struct{})}
}

// waitReady blocks until the feed is connected, ctx ends or d passes.
func (f *feedEcho) waitReady(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.ready:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// RevokeSession records the revocation and waits (at most f.wait) for the
// feed to bring it back.
func (f *feedEcho) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	ch := make(chan struct{})
	f.mu.Lock()
	f.waiters[sid] = append(f.waiters[sid], ch)
	f.mu.Unlock()
	defer f.drop(sid, ch)
	if err := f.Store.RevokeSession(ctx, sid, until); err != nil {
		return err
	}
	t := time.NewTimer(f.wait)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C: // the feed is slow or down: the periodic resync catches up
	case <-ctx.Done():
	}
	return nil
}

// WatchRevocations passes the feed through, waking RevokeSession callers.
func (f *feedEcho) WatchRevocations(ctx context.Context, fn func(string, time.Time), reconnect func()) error {
	return f.Store.WatchRevocations(ctx, func(sid string, until time.Time) {
		fn(sid, until)
		f.mu.Lock()
		for _, ch := range f.waiters[sid] {
			close(ch)
		}
		delete(f.waiters, sid)
		f.mu.Unlock()
	}, func() {
		reconnect()
		f.readyOnce.Do(func() { close(f.ready) })
	})
}

func (f *feedEcho) drop(sid string, ch chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws := f.waiters[sid]
	for i, w := range ws {
		if w == ch {
			f.waiters[sid] = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(f.waiters[sid]) == 0 {
		delete(f.waiters, sid)
	}
}
