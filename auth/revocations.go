package auth

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// RevocationSource is where revocations are kept and announced;
// store.Store satisfies it.
type RevocationSource interface {
	// RevokedSessions returns every revocation that has not yet expired.
	RevokedSessions(ctx context.Context) (map[string]time.Time, error)
	// WatchRevocations calls fn for each new revocation and reconnect when
	// a full resync is due, until ctx ends or the feed fails.
	WatchRevocations(ctx context.Context, fn func(sid string, until time.Time), reconnect func()) error
}

// Revocations is this instance's copy of the revoked sessions: session ID
// to the time until which its access tokens are refused. Run keeps it in
// step with a RevocationSource. The zero value is ready to use; it is safe
// for concurrent use and Revoked does not allocate.
type Revocations struct {
	mu sync.RWMutex
	m  map[string]int64 // sid -> until, Unix nanoseconds

	clock      func() time.Time // nil: time.Now
	minBackoff time.Duration    // 0: 100ms
	maxBackoff time.Duration    // 0: 30s
}

// NewRevocations returns an empty set.
func NewRevocations() *Revocations { return &Revocations{} }

func (r *Revocations) now() time.Time {
	if r.clock != nil {
		return r.clock()
	}
	return time.Now()
}

// Revoked reports whether sid is revoked now; a revocation ends at its
// until time.
func (r *Revocations) Revoked(sid string) bool {
	r.mu.RLock()
	until, ok := r.m[sid]
	r.mu.RUnlock()
	return ok && r.now().UnixNano() < until
}

// Add revokes sid until the given time. A later revocation of the same sid
// extends it; an earlier one changes nothing.
func (r *Revocations) Add(sid string, until time.Time) {
	u := until.UnixNano()
	if u <= r.now().UnixNano() {
		return
	}
	r.mu.Lock()
	if r.m == nil {
		r.m = make(map[string]int64)
	}
	if old, ok := r.m[sid]; !ok || u > old {
		r.m[sid] = u
	}
	r.mu.Unlock()
}

// Replace makes all the set's content, dropping what has already expired.
func (r *Revocations) Replace(all map[string]time.Time) {
	now := r.now().UnixNano()
	m := make(map[string]int64, len(all))
	for sid, until := range all {
		if u := until.UnixNano(); u > now {
			m[sid] = u
		}
	}
	r.mu.Lock()
	r.m = m
	r.mu.Unlock()
}

// Len returns the number of revocations held, expired ones not yet swept
// included (for metrics and tests).
func (r *Revocations) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m)
}

// Merge adds every revocation of all, keeping the later until of the two.
// A resync merges rather than replaces: revocations are never withdrawn,
// and one announced while the snapshot was being read must not be lost.
func (r *Revocations) Merge(all map[string]time.Time) { r.merge(all) }

func (r *Revocations) merge(all map[string]time.Time) {
	now := r.now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]int64, len(all))
	}
	for sid, until := range all {
		u := until.UnixNano()
		if u <= now {
			continue
		}
		if old, ok := r.m[sid]; !ok || u > old {
			r.m[sid] = u
		}
	}
}

// Sweep drops expired revocations.
func (r *Revocations) Sweep() { r.sweep() }

func (r *Revocations) sweep() {
	now := r.now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	for sid, until := range r.m {
		if until <= now {
			delete(r.m, sid)
		}
	}
}

// Run keeps the set in step with src until ctx ends: it watches the feed of
// new revocations, loads the full set at start, whenever the feed
// (re)connects and every resync interval (0: only on reconnect), and sweeps
// expired entries. When src fails it logs and retries with exponential
// backoff; revocations already held stay in force meanwhile.
func (r *Revocations) Run(ctx context.Context, src RevocationSource, resync time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	due := make(chan struct{}, 1)
	requestResync := func() {
		select {
		case due <- struct{}{}:
		default:
		}
	}

	// Watch first, then load: a revocation announced while the snapshot is
	// read arrives through the feed and is merged, not lost.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.watch(ctx, src, requestResync, log)
	}()
	defer wg.Wait()

	r.resync(ctx, src, log)

	sweepEvery := time.Minute
	if resync > 0 && resync < sweepEvery {
		sweepEvery = resync
	}
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	var tick <-chan time.Time
	if resync > 0 {
		t := time.NewTicker(resync)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			r.resync(ctx, src, log)
		case <-due:
			r.resync(ctx, src, log)
		case <-sweep.C:
			r.sweep()
		}
	}
}

// resync loads the full set from src, retrying until it succeeds or ctx
// ends.
func (r *Revocations) resync(ctx context.Context, src RevocationSource, log *slog.Logger) {
	b := r.newBackoff()
	for {
		all, err := src.RevokedSessions(ctx)
		if err == nil {
			r.merge(all)
			r.sweep()
			return
		}
		if ctx.Err() != nil {
			return
		}
		d := b.next()
		log.Warn("load revoked sessions failed; retrying", "err", err, "retry_in", d)
		if !sleepCtx(ctx, d) {
			return
		}
	}
}

// watch runs the feed, restarting it with backoff whenever it stops before
// ctx ends, and asks for a resync after each restart (revocations may have
// been missed while it was down).
func (r *Revocations) watch(ctx context.Context, src RevocationSource, requestResync func(), log *slog.Logger) {
	b := r.newBackoff()
	for {
		started := time.Now()
		err := src.WatchRevocations(ctx, r.Add, requestResync)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > b.max {
			b.reset() // it ran fine for a while: this is a new outage
		}
		d := b.next()
		log.Warn("revocation feed stopped; restarting", "err", err, "retry_in", d)
		if !sleepCtx(ctx, d) {
			return
		}
		requestResync()
	}
}

// retryBackoff doubles a delay from min to max, with jitter.
type retryBackoff struct {
	min, max, cur time.Duration
}

func (r *Revocations) newBackoff() *retryBackoff {
	b := &retryBackoff{min: r.minBackoff, max: r.maxBackoff}
	if b.min <= 0 {
		b.min = 100 * time.Millisecond
	}
	if b.max <= 0 {
		b.max = 30 * time.Second
	}
	return b
}

func (b *retryBackoff) reset() { b.cur = 0 }

// next returns the next delay: the current one with ±25% jitter.
func (b *retryBackoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur - b.cur/4 + rand.N(b.cur/2+1)
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
