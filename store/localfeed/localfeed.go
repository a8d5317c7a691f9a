// Package localfeed fans revocations out to the WatchRevocations callers of
// one process, for the single-process backends (embedded and memory).
package localfeed

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"authgate/store"
)

// Feed fans revocations out to the watchers of this process.
type Feed struct {
	mu     sync.Mutex
	subs   map[*Subscriber]struct{}
	closed chan struct{}
}

// Subscriber is one WatchRevocations call. When its queue is full a
// revocation is dropped and lost is set, which makes the watcher call
// reconnect (a full resync) instead of blocking the revoker.
type Subscriber struct {
	queue  chan revocation
	lost   atomic.Bool
	closed <-chan struct{}
}

type revocation struct {
	sid   string
	until time.Time
}

// QueueSize bounds the revocations waiting for a slow watcher.
const QueueSize = 1024

// New returns a feed with no subscribers.
func New() *Feed {
	return &Feed{subs: map[*Subscriber]struct{}{}, closed: make(chan struct{})}
}

// Subscribe registers a watcher; Unsubscribe it when its Run returns.
func (f *Feed) Subscribe() *Subscriber {
	sub := &Subscriber{queue: make(chan revocation, QueueSize), closed: f.closed}
	f.mu.Lock()
	f.subs[sub] = struct{}{}
	f.mu.Unlock()
	return sub
}

// Unsubscribe removes a watcher.
func (f *Feed) Unsubscribe(sub *Subscriber) {
	f.mu.Lock()
	delete(f.subs, sub)
	f.mu.Unlock()
}

// Publish queues the revocation for every subscriber without blocking.
func (f *Feed) Publish(sid string, until time.Time) {
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

// Close ends every Run.
func (f *Feed) Close() {
	close(f.closed)
}

// Run calls reconnect, then fn for each queued revocation, until ctx ends
// (nil) or the feed is closed (ErrUnavailable).
func (sub *Subscriber) Run(ctx context.Context, fn func(string, time.Time), reconnect func()) error {
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
