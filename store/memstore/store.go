// Package memstore is a store.Store kept in process memory behind one mutex.
// Nothing survives a restart and nothing is shared with other processes: it
// is meant for tests and for trying authgate out.
package memstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"authgate/store"
	"authgate/store/localfeed"
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	now   func() time.Time
	feed  *localfeed.Feed
	epoch string

	mu            sync.Mutex
	closed        bool
	lastSweep     time.Time
	users         map[string]store.User
	byName        map[string]string // Fold(username) → user ID
	byEmail       map[string]string // Fold(email) → user ID
	sessions      map[string]*session
	userSessions  map[string]map[string]struct{} // user ID → session IDs
	revoked       map[string]time.Time
	oneTime       map[oneTimeKey]oneTime
	oneTimeByUser map[oneTimeKey]string // (purpose, user ID) → hash of the live token
	identities    map[identityKey]store.Identity
	secrets       map[string][]byte
	// secondFactors holds each user's record as store.EncodeSecondFactors
	// wrote it: the bytes share nothing with callers' slices, and a retry is
	// told from a conflict the way the other backends tell it.
	secondFactors map[string][]byte // user ID → encoded store.SecondFactors
}

// Option adjusts New.
type Option func(*Store)

// WithNow sets the clock the store uses to decide what has expired
// (default time.Now), so tests can move time forward.
func WithNow(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// sweepEvery is how often writes also drop every expired record, so memory
// does not grow with records nobody reads again.
const sweepEvery = time.Minute

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		now:           time.Now,
		feed:          localfeed.New(),
		epoch:         newEpoch(),
		users:         map[string]store.User{},
		byName:        map[string]string{},
		byEmail:       map[string]string{},
		sessions:      map[string]*session{},
		userSessions:  map[string]map[string]struct{}{},
		revoked:       map[string]time.Time{},
		oneTime:       map[oneTimeKey]oneTime{},
		oneTimeByUser: map[oneTimeKey]string{},
		identities:    map[identityKey]store.Identity{},
		secrets:       map[string][]byte{},
		secondFactors: map[string][]byte{},
	}
	for _, o := range opts {
		o(s)
	}
	s.lastSweep = s.now()
	return s
}

// lock takes the mutex unless the store is closed; op names the operation
// in the error.
func (s *Store) lock(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("%s: store closed: %w", op, store.ErrUnavailable)
	}
	return nil
}

// Ping reports ErrUnavailable once the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.lock(ctx, "ping"); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// Close drops everything and ends every WatchRevocations; later calls fail
// with ErrUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.feed.Close()
	return nil
}

// maybeSweepLocked drops expired records when the last sweep is old enough.
func (s *Store) maybeSweepLocked(now time.Time) {
	if now.Sub(s.lastSweep) < sweepEvery {
		return
	}
	s.lastSweep = now
	for sid, se := range s.sessions {
		if se.expired(now) {
			s.deleteSessionLocked(sid)
		}
	}
	for sid, until := range s.revoked {
		if !now.Before(until) {
			delete(s.revoked, sid)
		}
	}
	for k, tok := range s.oneTime {
		if !now.Before(tok.expiresAt) {
			s.deleteOneTimeLocked(k, tok)
		}
	}
}

var _ store.Store = (*Store)(nil)

// Epoch is new for every store: tokens issued against an earlier one (an
// earlier run of the process) name sessions this one never had.
func (s *Store) Epoch() string { return s.epoch }

func newEpoch() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
