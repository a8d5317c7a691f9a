// Package lease makes revocation a guarantee across gateway instances:
// once a revoking call (RevokeSession through Store) has returned, no
// instance sharing the store accepts a token of that session, and the hot
// path (Admit) still makes no store round trip.
//
// How (for Redis; see redisstore's revocations.go for the keys and scripts):
//
//   - Every revocation gets a number, announced with it on the feed
//     together with the number before it, so an instance knows when it has
//     applied every revocation through some number ("applied through n")
//     and notices a gap (then it loads a snapshot).
//   - Every instance renews a lease every Duration/4 and at once after it
//     applied something: the renewal records "applied through n" and
//     answers the store's last number S. The renewal, sent at local time t,
//     lets the instance serve until t+Duration, but only once it has
//     applied through S. Until then the previous lease stays in force.
//   - Admit refuses every token (ErrNotInStep) once the lease has run out.
//   - A revocation returns when every registered instance has acknowledged
//     its number, or when Duration+Grace has passed on the revoker's clock
//     since the store recorded it. Any lease still valid then was granted
//     by a renewal made after the revocation, so its instance has applied
//     it. An instance that stays silent that long is forgotten; if it comes
//     back its renewal registers it again.
//
// Clocks: leases are measured on each process's monotonic clock
// (time.Since), never on wall clocks or Redis's clock, so no two clocks
// need to agree; what is assumed is that they run at the same rate within
// Grace/Duration (5% at the defaults) and that an instance's monotonic
// clock keeps running while its process is stopped (true for SIGSTOP and
// CPU starvation; a VM whose guest clock stops while it is frozen breaks
// it). Revocation numbers use Redis's clock only to keep growing across a
// primary change that lost writes.
//
// The store's epoch (a random marker key) changes when Redis lost its data;
// tokens carry the epoch they were issued in, and Admit refuses other
// epochs, so no instance, old or new, accepts a token of a session the
// store no longer has.
//
// Refuses: the lease does not make a revocation durable (Redis's
// asynchronous replication can still lose it in a failover); it does not
// cover the single-process stores beyond what they already do (one
// process applies its own revocations synchronously), see Local.
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"authgate/auth"
	"authgate/store"
	"authgate/store/redisstore"
)

// Defaults.
const (
	// Duration of a lease: how long an instance that lost the feed keeps
	// serving, and the longest a revocation waits for a silent instance.
	Duration = 2 * time.Second
	// Grace is added to Duration on the revoker's side for clock rate
	// differences and scheduling.
	Grace = Duration/20 + 100*time.Millisecond
	// resyncEvery reloads the whole set even when the feed looks fine.
	resyncEvery = time.Minute
)

// ErrStaleEpoch is what Admit returns for a token of another store epoch:
// its session is gone with the data it was kept in.
var ErrStaleEpoch = fmt.Errorf("%w: issued before the store lost its data", auth.ErrTokenRevoked)

// Backend is the store's side of the protocol; *redisstore.Store is one.
type Backend interface {
	Revoke(ctx context.Context, sid string, until time.Time) (uint64, error)
	Snapshot(ctx context.Context) (map[string]time.Time, uint64, string, error)
	Watch(ctx context.Context, fn func(redisstore.Announcement), reconnect func()) error
	Renew(ctx context.Context, id string, applied uint64, epoch string) (redisstore.Renewal, error)
	Pending(ctx context.Context, n uint64) (map[string]string, error)
	Evict(ctx context.Context, id, counter string) error
}

// base anchors mono: time.Since reads the monotonic clock.
var base = time.Now()

func mono() int64 { return int64(time.Since(base)) }

// Lease keeps one instance in step with a Backend's revocations and holds
// its lease. Create it with New, wrap the store with Store, call Start.
type Lease struct {
	b   Backend
	rev *auth.Revocations
	id  string
	log *slog.Logger
	d   time.Duration

	deadline atomic.Int64 // mono ns; tokens are admitted while mono() < deadline
	epoch    atomic.Pointer[string]

	mu     sync.Mutex
	synced bool   // last is valid: every revocation through it is applied
	last   uint64 // applied through
	exts   []extension

	kick   chan struct{} // a renewal (acknowledgement) is due
	resync chan struct{} // a snapshot is due
	ready  chan struct{} // closed at the first lease
	once   sync.Once

	hook atomic.Pointer[func()] // tests: runs before each announcement is applied
}

// extension is a renewal's promise: serve until d once applied through s
// in epoch.
type extension struct {
	s     uint64
	d     int64
	epoch string
}

// New returns the lease of instance id (unique among the instances, e.g.
// random) keeping rev in step with b.
func New(b Backend, rev *auth.Revocations, id string, log *slog.Logger) *Lease {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Lease{b: b, rev: rev, id: id, log: log, d: Duration,
		kick: make(chan struct{}, 1), resync: make(chan struct{}, 1), ready: make(chan struct{})}
	l.deadline.Store(math.MinInt64)
	return l
}

// Admit reports whether a token of epoch may be accepted at now (from
// time.Now; its monotonic reading is used): nil, auth.ErrNotInStep when
// the lease ran out, ErrStaleEpoch for a token of another epoch. It does
// not allocate.
func (l *Lease) Admit(epoch string, now time.Time) error {
	if int64(now.Sub(base)) >= l.deadline.Load() {
		return auth.ErrNotInStep
	}
	if cur := l.epoch.Load(); cur == nil || *cur != epoch {
		return ErrStaleEpoch
	}
	return nil
}

// Epoch is the store epoch this instance is in ("" before the first
// renewal); new tokens carry it.
func (l *Lease) Epoch() string {
	if p := l.epoch.Load(); p != nil {
		return *p
	}
	return ""
}

// SetApplyHook makes the feed call f before it applies each announcement
// (tests: f may block to delay or stop the feed). nil removes it.
func (l *Lease) SetApplyHook(f func()) {
	if f == nil {
		l.hook.Store(nil)
		return
	}
	l.hook.Store(&f)
}

// Start runs the feed, the renewals and the snapshots until ctx ends, and
// waits up to wait for the first lease. It reports whether the lease is
// held.
func (l *Lease) Start(ctx context.Context, wait time.Duration) bool {
	go l.watch(ctx)
	go l.renewals(ctx)
	go l.snapshots(ctx)
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

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// watch runs the feed, restarting it with backoff.
func (l *Lease) watch(ctx context.Context) {
	delay := 100 * time.Millisecond
	for {
		started := time.Now()
		err := l.b.Watch(ctx, l.apply, func() {
			// (Re)subscribed: what was published meanwhile is missed.
			l.markUnsynced()
		})
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > 10*time.Second {
			delay = 100 * time.Millisecond
		}
		l.log.Warn("revocation feed stopped; restarting", "err", err, "retry_in", delay)
		if !sleep(ctx, delay) {
			return
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// apply is the feed's callback.
func (l *Lease) apply(a redisstore.Announcement) {
	if h := l.hook.Load(); h != nil {
		(*h)()
	}
	l.rev.Add(a.SessionID, a.Until)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !l.synced:
	case a.Epoch != l.Epoch():
		l.unsyncedLocked()
	case a.Prev == l.last:
		l.last = a.Seq
		l.commitLocked()
		signal(l.kick)
	case a.Seq <= l.last: // already in a snapshot
	default: // a gap: something was missed
		l.unsyncedLocked()
	}
}

func (l *Lease) markUnsynced() {
	l.mu.Lock()
	l.unsyncedLocked()
	l.mu.Unlock()
}

func (l *Lease) unsyncedLocked() {
	l.synced = false
	signal(l.resync)
}

// snapshots loads the whole set when due, retrying until it succeeds.
func (l *Lease) snapshots(ctx context.Context) {
	tick := time.NewTicker(resyncEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.resync:
		case <-tick.C:
			l.rev.Sweep()
		}
		delay := 50 * time.Millisecond
		for {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			m, seq, epoch, err := l.b.Snapshot(sctx)
			cancel()
			if err == nil {
				l.rev.Merge(m)
				l.installSnapshot(seq, epoch)
				break
			}
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("load revoked sessions failed; retrying", "err", err, "retry_in", delay)
			if !sleep(ctx, delay) {
				return
			}
			delay = min(2*delay, 2*time.Second)
		}
	}
}

func (l *Lease) installSnapshot(seq uint64, epoch string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	same := epoch == l.Epoch()
	l.setEpochLocked(epoch)
	if !(same && l.synced && seq <= l.last) {
		// Announcements past seq that were applied before are applied
		// again when they arrive (or trigger the next snapshot).
		l.last = seq
	}
	l.synced = true
	l.commitLocked()
	signal(l.kick)
}

// setEpochLocked moves to the store's epoch: tokens of the old one are
// refused from now on.
func (l *Lease) setEpochLocked(epoch string) {
	if old := l.Epoch(); old != epoch {
		if old != "" {
			l.log.Error("the store lost its data (new epoch): every token issued before is refused; users log in again",
				"old_epoch", old, "epoch", epoch)
		}
		l.epoch.Store(&epoch)
	}
}

// renewals renews the lease every d/4, and at once when asked.
func (l *Lease) renewals(ctx context.Context) {
	tick := time.NewTicker(l.d / 4)
	defer tick.Stop()
	for {
		l.renew(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-l.kick:
		}
	}
}

func (l *Lease) renew(ctx context.Context) {
	l.mu.Lock()
	applied, epoch := l.last, l.Epoch()
	l.mu.Unlock()
	// Taken before the request: the store records the renewal later, so
	// the lease ends here before the revokers' view of it does.
	sent := mono()
	rctx, cancel := context.WithTimeout(ctx, l.d/2)
	r, err := l.b.Renew(rctx, l.id, applied, epoch)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			l.log.Warn("lease renewal failed", "err", err)
		}
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Epoch != l.Epoch() {
		l.setEpochLocked(r.Epoch)
		l.unsyncedLocked()
	} else if !r.Acked && r.Seq < l.last {
		// The store is behind this instance: it lost revocations (a
		// failover or a restart from an older snapshot). Start over from
		// what it has; what this instance applied stays in force.
		l.log.Warn("the store lost revocations; reloading", "applied", l.last, "store", r.Seq)
		l.unsyncedLocked()
	}
	l.exts = append(l.exts, extension{s: r.Seq, d: sent + int64(l.d), epoch: r.Epoch})
	l.commitLocked()
}

// commitLocked turns the renewals whose condition is met into the lease
// and drops those that can no longer matter.
func (l *Lease) commitLocked() {
	now := mono()
	keep := l.exts[:0]
	for _, e := range l.exts {
		switch {
		case e.d <= now || e.d <= l.deadline.Load():
		case l.synced && e.epoch == l.Epoch() && e.s <= l.last:
			l.deadline.Store(e.d)
			l.once.Do(func() { close(l.ready) })
		default:
			keep = append(keep, e)
		}
	}
	l.exts = keep
}

// Revoke records the revocation and returns once every instance has
// applied it or can no longer accept its tokens (see the package
// documentation). When ctx ends first it returns an ErrUnavailable error:
// the revocation is recorded but not yet guaranteed everywhere.
func (l *Lease) Revoke(ctx context.Context, sid string, until time.Time) error {
	n, err := l.b.Revoke(ctx, sid, until)
	if err != nil {
		return err
	}
	return l.await(ctx, n)
}

// await waits for revocation n: see Revoke.
func (l *Lease) await(ctx context.Context, n uint64) error {
	limit := int64(l.d + Grace)
	hard := mono() + limit
	type seen struct {
		counter string
		at      int64
	}
	watched := map[string]seen{}
	wait := time.Millisecond
	for {
		pending, err := l.b.Pending(ctx, n)
		now := mono()
		if err == nil {
			if len(pending) == 0 {
				return nil
			}
			for id, c := range pending {
				if s, ok := watched[id]; !ok || s.counter != c {
					watched[id] = seen{c, now}
				}
			}
		}
		if now >= hard {
			// An instance that has not renewed for a whole lease since we
			// first saw its counter cannot be serving: forget it, so later
			// revocations do not wait for it.
			for id, c := range pending {
				if s := watched[id]; s.counter == c && now-s.at >= limit {
					l.log.Info("forgetting an instance that stopped renewing its lease", "instance", id)
					_ = l.b.Evict(ctx, id, c)
				}
			}
			return nil
		}
		t := time.NewTimer(min(wait, time.Duration(hard-now)))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("revocation %d: not yet applied everywhere: %w", n, errors.Join(store.ErrUnavailable, ctx.Err()))
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// Store wraps st so that RevokeSession is Revoke.
func (l *Lease) Store(st store.Store) store.Store { return leaseStore{st, l} }

type leaseStore struct {
	store.Store
	l *Lease
}

func (s leaseStore) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	return s.l.Revoke(ctx, sid, until)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
