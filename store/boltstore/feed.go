package boltstore

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"authgate/store"
)

// feed fans revocations out to the watchers of this process.
type feed struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed chan struct{}
}

// subscriber is one WatchRevocations call. When its queue is full a
// revocation is dropped and lost is set, which makes the watcher call
// reconnect (a full resync) instead of blocking the revoker.
type subscriber struct {
	queue  chan revocation
	lost   atomic.Bool
	closed <-chan struct{}
}

type revocation struct {
	sid   string
	until time.Time
}

// queueSize bounds the revocations waiting for a slow watcher.
const queueSize = 1024

func newFeed() *feed {
	return &feed{subs: map[*subscriber]struct{}{}, closed: make(chan struct{})}
}

func (f *feed) subscribe() *subscriber {
	sub := &subscriber{queue: make(chan revocation, queueSize), closed: f.closed}
	f.mu.Lock()
	f.subs[sub] = struct{}{}
	f.mu.Unlock()
	return sub
}

func (f *feed) unsubscribe(sub *subscriber) {
	f.mu.Lock()
	delete(f.subs, sub)
	f.mu.Unlock()
}

// publish queues the revocation for every subscriber without blocking.
func (f *feed) publish(sid string, until time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		select {
		case sub.queue <- revocation{sid, until}:
		default:
			sub.lost.Store(true)
		}
	}
}

// close ends every run.
func (f *feed) close() {
	close(f.closed)
}

// run calls reconnect, then fn for each queued revocation, until ctx ends
// (nil) or the feed is closed (ErrUnavailable).
func (sub *subscriber) run(ctx context.Context, fn func(string, time.Time), reconnect func()) error {
	reconnect()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.closed:
			return store.ErrUnavailable
		case r := <-sub.queue:
			fn(r.sid, r.until)
			if sub.lost.Swap(false) {
				reconnect()
			}
		}
	}
}
