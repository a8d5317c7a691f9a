package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"authgate/auth"
	"authgate/store"
)

// Keeper is what a gateway instance needs: a Lease for a shared (Redis)
// store, Local for the single-process ones.
type Keeper interface {
	auth.Gate
	// Epoch is the store epoch new tokens carry.
	Epoch() string
	// Store wraps the store so that RevokeSession keeps the guarantee.
	Store(store.Store) store.Store
	// Start keeps the revocation set in step until ctx ends and waits up to
	// wait until tokens may be accepted; it reports whether they may.
	Start(ctx context.Context, wait time.Duration) bool
}

// For returns the Keeper for st: a Lease when st is a Backend (Redis), else
// Local. id names the instance among those sharing st.
func For(st store.Store, rev *auth.Revocations, log *slog.Logger) Keeper {
	if b, ok := st.(Backend); ok {
		return New(b, rev, newID(), log)
	}
	return NewLocal(st, rev, log)
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Local is the Keeper of the single-process stores (memory, bbolt): the
// instance that revokes applies the revocation to its own set before it
// writes it (auth.Sessions), so in one process nothing waits for another.
// Several gateways sharing one store object in one process (tests) get the
// revocation through the in-process feed; RevokeSession waits (at most
// echoWait) for it to come back. Its lease never runs out. The epoch is
// the store's Epoch() when it has one (memstore: new at every start, since
// its data dies with the process), else a constant.
type Local struct {
	st  store.Store
	rev *auth.Revocations
	log *slog.Logger

	epoch string

	mu      sync.Mutex
	waiters map[string][]chan struct{}

	readyOnce sync.Once
	ready     chan struct{} // closed once the feed is first connected
}

// echoWait bounds how long a local revocation waits for the feed.
const echoWait = 250 * time.Millisecond

// NewLocal returns the Keeper of a single-process store.
func NewLocal(st store.Store, rev *auth.Revocations, log *slog.Logger) *Local {
	l := &Local{st: st, rev: rev, log: log, epoch: "local", waiters: map[string][]chan struct{}{}, ready: make(chan struct{})}
	if e, ok := st.(interface{ Epoch() string }); ok {
		l.epoch = e.Epoch()
	}
	return l
}

// Admit accepts tokens of the store's epoch.
func (l *Local) Admit(epoch string, _ time.Time) error {
	if epoch != l.epoch {
		return ErrStaleEpoch
	}
	return nil
}

// Epoch is the store's epoch.
func (l *Local) Epoch() string { return l.epoch }

// Store returns the wrapped store.
func (l *Local) Store(store.Store) store.Store { return localStore{l.st, l} }

// Start loads the revocations, keeps them in step and waits for the feed.
func (l *Local) Start(ctx context.Context, wait time.Duration) bool {
	go l.rev.Run(ctx, localStore{l.st, l}, time.Minute, l.log)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-l.ready:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

type localStore struct {
	store.Store
	l *Local
}

// RevokeSession records the revocation and waits (at most echoWait) for
// the feed to bring it back.
func (s localStore) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	f := s.l
	ch := make(chan struct{})
	f.mu.Lock()
	f.waiters[sid] = append(f.waiters[sid], ch)
	f.mu.Unlock()
	defer f.drop(sid, ch)
	if err := s.Store.RevokeSession(ctx, sid, until); err != nil {
		return err
	}
	t := time.NewTimer(echoWait)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C: // the periodic resync catches up
	case <-ctx.Done():
	}
	return nil
}

// WatchRevocations passes the feed through, waking RevokeSession callers.
func (s localStore) WatchRevocations(ctx context.Context, fn func(string, time.Time), reconnect func()) error {
	f := s.l
	return s.Store.WatchRevocations(ctx, func(sid string, until time.Time) {
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

func (f *Local) drop(sid string, ch chan struct{}) {
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
