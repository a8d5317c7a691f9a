// Package storetest is the contract every store.Store backend passes. A
// backend's test calls Run with a constructor for fresh, empty stores:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
//	}
//
// The suite uses real time with short lifetimes (about a second) where it
// must watch something expire, and runs its tests in parallel so the waits
// overlap.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"authgate/store"
)

// Option adjusts Run.
type Option func(*options)

type options struct {
	sibling func(t *testing.T, s store.Store) store.Store
}

// WithSibling tells Run how to open a second Store value on the same backend
// as s (as a second gateway instance would), so the suite can check that
// revocations reach the watchers of other instances. Backends that cannot be
// opened twice (an embedded file, memory) leave it out: the suite then
// watches and revokes through the same Store value. The suite closes the
// sibling when the test ends.
func WithSibling(open func(t *testing.T, s store.Store) store.Store) Option {
	return func(o *options) { o.sibling = open }
}

// harness opens stores for one run of the suite.
type harness struct {
	newStore func(t *testing.T) store.Store
	opts     options
}

// open returns a fresh store that is closed when t ends.
func (h *harness) open(t *testing.T) store.Store {
	t.Helper()
	s := h.newStore(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// sibling returns a second Store value on the backend of s, or s itself when
// the backend has only one.
func (h *harness) sibling(t *testing.T, s store.Store) store.Store {
	t.Helper()
	if h.opts.sibling == nil {
		return s
	}
	other := h.opts.sibling(t, s)
	t.Cleanup(func() {
		if err := other.Close(); err != nil {
			t.Errorf("Close sibling: %v", err)
		}
	})
	return other
}

// behaviour is one named test of the contract.
type behaviour struct {
	name string
	run  func(t *testing.T, h *harness)
}

// Run runs the whole contract against the stores newStore returns. Each call
// of newStore must return a new, empty store (its own key prefix, file or
// instance); the suite closes it when the test ends, and newStore may
// register cleanups of its own with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, opts ...Option) {
	h := &harness{newStore: newStore}
	for _, o := range opts {
		o(&h.opts)
	}
	groups := []struct {
		name       string
		behaviours []behaviour
	}{
		{"Users", userBehaviours},
		{"Sessions", sessionBehaviours},
		{"RotateRefresh", rotateBehaviours},
		{"Replay", replayBehaviours},
		{"Secrets", secretBehaviours},
		{"Revocations", revocationBehaviours},
		{"OneTimeTokens", oneTimeBehaviours},
		{"Identities", identityBehaviours},
		{"SecondFactors", secondFactorBehaviours},
		{"Ping", pingBehaviours},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, b := range g.behaviours {
				t.Run(b.name, func(t *testing.T) {
					t.Parallel()
					b.run(t, h)
				})
			}
		})
	}
}

var pingBehaviours = []behaviour{
	{"PingSucceedsOnAReachableBackend", func(t *testing.T, h *harness) {
		s := h.open(t)
		if err := s.Ping(testContext(t)); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}},
}

// testContext bounds every store call of a test, so a hung backend fails
// the test instead of hanging it.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newID returns a random identifier like the ones the gateway makes.
func newID(t *testing.T) string {
	t.Helper()
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random id: %v", err)
	}
	return hex.EncodeToString(b[:])
}

// sleepPast waits until the wall clock is past deadline, with a margin for
// backends (Redis) that expire keys by their own clock at millisecond
// precision.
func sleepPast(deadline time.Time) {
	time.Sleep(time.Until(deadline) + 100*time.Millisecond)
}

// now returns the current time at millisecond precision (the precision
// every backend keeps for revocations) without a monotonic reading.
func now() time.Time {
	return time.Now().Round(0).Truncate(time.Millisecond)
}

// sorted returns a sorted copy of ids.
func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// oneWinner checks the results of concurrent calls of the same change:
// exactly one succeeded, and every other failed with one of losers.
func oneWinner(t *testing.T, call string, errs []error, losers ...error) {
	t.Helper()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		if !slices.ContainsFunc(losers, func(l error) bool { return errors.Is(err, l) }) {
			t.Errorf("%s: %v, want nil or one of %v", call, err, losers)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent %s calls succeeded, want exactly 1", won, len(errs), call)
	}
}
