package auth

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"
)

func TestRevokedUntilTheGivenTime(t *testing.T) {
	now := testNow
	r := NewRevocations()
	r.clock = func() time.Time { return now }
	r.Add("s1", testNow.Add(time.Minute))
	r.Add("s1", testNow.Add(30*time.Second)) // earlier: must not shorten
	r.Add("gone", testNow.Add(-time.Second)) // already over: ignored

	tests := []struct {
		name string
		at   time.Time
		sid  string
		want bool
	}{
		{"revoked session", testNow, "s1", true},
		{"other session", testNow, "s2", false},
		{"later revocation not shortened", testNow.Add(45 * time.Second), "s1", true},
		{"at until", testNow.Add(time.Minute), "s1", false},
		{"after until", testNow.Add(time.Hour), "s1", false},
		{"revocation already over when added", testNow, "gone", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = tt.at
			if got := r.Revoked(tt.sid); got != tt.want {
				t.Errorf("Revoked(%q) at %v = %v, want %v", tt.sid, tt.at.Sub(testNow), got, tt.want)
			}
		})
	}
	if r.Len() != 1 {
		t.Errorf("Len = %d, want 1 (the expired Add is not stored)", r.Len())
	}
}

func TestZeroRevocationsIsUsable(t *testing.T) {
	var r Revocations
	if r.Revoked("s1") {
		t.Error("empty set revokes")
	}
	r.Add("s1", time.Now().Add(time.Hour))
	if !r.Revoked("s1") {
		t.Error("Add on the zero value lost")
	}
}

func TestReplaceDropsWhatIsNotInTheNewSet(t *testing.T) {
	r := NewRevocations()
	r.clock = func() time.Time { return testNow }
	r.Add("old", testNow.Add(time.Hour))
	r.Replace(map[string]time.Time{"new": testNow.Add(time.Hour), "expired": testNow.Add(-time.Second)})
	if r.Revoked("old") || !r.Revoked("new") || r.Revoked("expired") {
		t.Errorf("after Replace: old %v new %v expired %v; want false true false", r.Revoked("old"), r.Revoked("new"), r.Revoked("expired"))
	}
	if r.Len() != 1 {
		t.Errorf("Len = %d, want 1", r.Len())
	}
}

func TestSweepDropsExpiredRevocations(t *testing.T) {
	now := testNow
	r := NewRevocations()
	r.clock = func() time.Time { return now }
	r.Add("short", testNow.Add(time.Second))
	r.Add("long", testNow.Add(time.Hour))
	now = testNow.Add(time.Minute)
	r.sweep()
	if r.Len() != 1 || !r.Revoked("long") {
		t.Errorf("after sweep: Len %d, long revoked %v; want 1, true", r.Len(), r.Revoked("long"))
	}
}

// fakeSource is an in-memory RevocationSource whose failures and feed the
// test controls.
type fakeSource struct {
	mu          sync.Mutex
	all         map[string]time.Time
	loadErrs    int // RevokedSessions fails this many more times
	loads       int
	watchErrs   int // WatchRevocations returns an error at once this many more times
	watches     int
	fn          func(string, time.Time)
	reconnect   func()
	watchActive chan struct{} // closed when a watch is running
}

func newFakeSource(all map[string]time.Time) *fakeSource {
	return &fakeSource{all: all, watchActive: make(chan struct{})}
}

func (s *fakeSource) RevokedSessions(ctx context.Context) (map[string]time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if s.loadErrs > 0 {
		s.loadErrs--
		return nil, errors.New("connection refused")
	}
	return maps.Clone(s.all), nil
}

func (s *fakeSource) WatchRevocations(ctx context.Context, fn func(string, time.Time), reconnect func()) error {
	s.mu.Lock()
	s.watches++
	if s.watchErrs > 0 {
		s.watchErrs--
		s.mu.Unlock()
		return errors.New("subscription lost")
	}
	s.fn, s.reconnect = fn, reconnect
	select {
	case <-s.watchActive:
	default:
		close(s.watchActive)
	}
	s.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

// revoke stores a revocation and, when announce is set, tells the watcher.
func (s *fakeSource) revoke(sid string, until time.Time, announce bool) {
	s.mu.Lock()
	s.all[sid] = until
	fn := s.fn
	s.mu.Unlock()
	if announce {
		fn(sid, until)
	}
}

func (s *fakeSource) counts() (loads, watches int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads, s.watches
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// runRevocations starts Run and returns a stop function that waits for it
// to return.
func runRevocations(t *testing.T, r *Revocations, src RevocationSource, resync time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, src, resync, nil)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func fastRevocations() *Revocations {
	return &Revocations{minBackoff: time.Millisecond, maxBackoff: 5 * time.Millisecond}
}

func TestRunLoadsWatchesAndResyncsOnReconnect(t *testing.T) {
	later := time.Now().Add(time.Hour)
	src := newFakeSource(map[string]time.Time{"at-start": later})
	r := fastRevocations()
	runRevocations(t, r, src, 0)

	eventually(t, "revocations present at start loaded", func() bool { return r.Revoked("at-start") })
	<-src.watchActive

	src.revoke("announced", later, true)
	if !r.Revoked("announced") {
		t.Error("revocation from the feed not applied at once")
	}

	// Missed while the feed was down; the source says a resync is due.
	src.revoke("missed", later, false)
	src.mu.Lock()
	reconnect := src.reconnect
	src.mu.Unlock()
	reconnect()
	eventually(t, "resync after reconnect", func() bool { return r.Revoked("missed") })
}

func TestRunResyncsPeriodically(t *testing.T) {
	src := newFakeSource(map[string]time.Time{})
	r := fastRevocations()
	runRevocations(t, r, src, 5*time.Millisecond)
	<-src.watchActive
	src.revoke("missed", time.Now().Add(time.Hour), false)
	eventually(t, "periodic resync", func() bool { return r.Revoked("missed") })
}

func TestRunRetriesAFailingSource(t *testing.T) {
	src := newFakeSource(map[string]time.Time{"s1": time.Now().Add(time.Hour)})
	src.loadErrs = 3
	r := fastRevocations()
	runRevocations(t, r, src, 0)
	eventually(t, "load after failures", func() bool { return r.Revoked("s1") })
	if loads, _ := src.counts(); loads < 4 {
		t.Errorf("%d loads, want at least 4 (3 failures then success)", loads)
	}
}

func TestRunRestartsAStoppedFeedAndResyncs(t *testing.T) {
	src := newFakeSource(map[string]time.Time{})
	src.watchErrs = 2
	r := fastRevocations()
	runRevocations(t, r, src, 0)
	<-src.watchActive // the third watch is running
	if _, watches := src.counts(); watches != 3 {
		t.Errorf("%d watches, want 3", watches)
	}
	// Each restart asks for a resync: more than the one at start.
	eventually(t, "resync after feed restart", func() bool { loads, _ := src.counts(); return loads >= 2 })
	src.revoke("after-restart", time.Now().Add(time.Hour), true)
	if !r.Revoked("after-restart") {
		t.Error("feed events after restart not applied")
	}
}

func TestRunKeepsLocalRevocationsMissingFromSnapshot(t *testing.T) {
	src := newFakeSource(map[string]time.Time{"remote": time.Now().Add(time.Hour)})
	r := fastRevocations()
	// Revoked locally (e.g. logout on this instance) just before the
	// snapshot was read without it.
	r.Add("local", time.Now().Add(time.Hour))
	runRevocations(t, r, src, 0)
	eventually(t, "snapshot loaded", func() bool { return r.Revoked("remote") })
	if !r.Revoked("local") {
		t.Error("resync dropped a revocation the snapshot did not have")
	}
}

func TestRunStopsWhileSourceIsDown(t *testing.T) {
	src := newFakeSource(map[string]time.Time{})
	src.loadErrs = 1 << 30
	src.watchErrs = 1 << 30
	r := &Revocations{minBackoff: time.Hour, maxBackoff: time.Hour}
	runRevocations(t, r, src, 0) // the cleanup fails the test if Run hangs
	eventually(t, "first load attempt", func() bool { loads, _ := src.counts(); return loads >= 1 })
}
