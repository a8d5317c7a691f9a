// Package boltstore is the embedded, durable store.Store: one bbolt file in
// the data directory, written in one transaction per operation, with a
// background sweeper that deletes what has expired. Only one process can
// open the file at a time, so revocations are fanned out in process.
package boltstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"authgate/store"
	"authgate/store/localfeed"
)

// Buckets, created by Open.
var (
	bucketUsers          = []byte("users")            // user ID → JSON store.User
	bucketUsersByName    = []byte("users_by_name")    // Fold(username) → user ID
	bucketUsersByEmail   = []byte("users_by_email")   // Fold(email) → user ID
	bucketSessions       = []byte("sessions")         // session ID → JSON store.Session
	bucketSpent          = []byte("spent_hashes")     // session ID, 0, hash → JSON spentRecord (or "1", written before replays existed)
	bucketUserSessions   = []byte("user_sessions")    // user ID, 0, session ID → "1"
	bucketRevocations    = []byte("revocations")      // session ID → JSON revocationRecord
	bucketOneTime        = []byte("one_time")         // purpose, 0, hash → JSON oneTimeRecord
	bucketOneTimeByUser  = []byte("one_time_by_user") // purpose, 0, user ID → hash
	bucketExpiries       = []byte("expiries")         // expiry key (see expiry.go) → "1"
	bucketIdentities     = []byte("identities")       // provider, 0, subject → JSON store.Identity
	bucketUserIdentities = []byte("user_identities")  // user ID, 0, provider, 0, subject → "1"
	bucketSecrets        = []byte("secrets")          // name → secret bytes
	bucketSecondFactors  = []byte("second_factors")   // user ID → store.EncodeSecondFactors of the user's record

	allBuckets = [][]byte{
		bucketUsers, bucketUsersByName, bucketUsersByEmail, bucketSessions, bucketSpent,
		bucketUserSessions, bucketRevocations, bucketOneTime, bucketOneTimeByUser, bucketExpiries,
		bucketIdentities, bucketUserIdentities,
		bucketSecrets, bucketSecondFactors,
	}
	present = []byte("1")
)

// Store is a store.Store in a bbolt file. Open it with Open, Close it when done.
type Store struct {
	db            *bolt.DB
	now           func() time.Time
	sweepInterval time.Duration
	lockTimeout   time.Duration
	log           *slog.Logger
	feed          *localfeed.Feed

	stopSweep chan struct{}
	swept     sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Option adjusts Open.
type Option func(*Store)

// WithSweepInterval sets how often expired sessions, revocations and
// one-time tokens are deleted from the file (default one minute). Reads
// never return expired records, whatever the interval.
func WithSweepInterval(d time.Duration) Option {
	return func(s *Store) { s.sweepInterval = d }
}

// WithNow sets the clock that decides what has expired (default time.Now).
func WithNow(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// WithLockTimeout sets how long Open waits for another process to release
// the file (default one second).
func WithLockTimeout(d time.Duration) Option {
	return func(s *Store) { s.lockTimeout = d }
}

// WithLogger sets where the sweeper reports failures (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) { s.log = l }
}

// Open opens (or creates, with its directory) the database at path and
// starts the sweeper. It fails after the lock timeout when another process
// holds the file.
func Open(path string, opts ...Option) (*Store, error) {
	s := &Store{
		now:           time.Now,
		sweepInterval: time.Minute,
		lockTimeout:   time.Second,
		log:           slog.Default(),
		feed:          localfeed.New(),
		stopSweep:     make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: create data dir: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: s.lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: locked for %s: data dir in use by another authgate? %w", path, s.lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.db = db
	if s.sweepInterval > 0 {
		s.swept.Add(1)
		go s.sweepLoop()
	}
	return s, nil
}

// Ping reports whether the file is still open and readable.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, "ping", func(*bolt.Tx) error { return nil })
}

// Close stops the sweeper, ends every WatchRevocations and closes the file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopSweep)
		s.swept.Wait()
		s.feed.Close()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close store: %w", err)
		}
	})
	return s.closeErr
}

// view runs fn in a read transaction; op names the operation in errors.
func (s *Store) view(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return classify(op, s.db.View(fn))
}

// update runs fn in a write transaction; op names the operation in errors.
func (s *Store) update(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return classify(op, s.db.Update(fn))
}

// classify wraps err with op, adding store.ErrUnavailable unless the error
// is one of the store's answers or a problem with the data itself.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrUsernameTaken),
		errors.Is(err, store.ErrEmailTaken), errors.Is(err, store.ErrRefreshReused),
		errors.Is(err, store.ErrIdentityTaken), errors.Is(err, store.ErrConflict),
		errors.Is(err, store.ErrUnavailable), errors.Is(err, errIDInUse),
		errors.Is(err, bolterrors.ErrKeyRequired), errors.Is(err, bolterrors.ErrKeyTooLarge),
		errors.Is(err, bolterrors.ErrValueTooLarge),
		errors.As(err, &syntax), errors.As(err, &typ):
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, errors.Join(store.ErrUnavailable, err))
}

// errIDInUse: CreateUser with the ID of an existing user.
var errIDInUse = errors.New("user id already in use")

// key joins parts with a zero byte.
func key(parts ...string) []byte {
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

// getJSON decodes the value of k in bucket b into v; false when absent.
func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	return true, jsonUnmarshal(k, raw, v)
}

// putJSON stores v under k in bucket b.
func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", k, err)
	}
	return b.Put(k, raw)
}

var _ store.Store = (*Store)(nil)

// jsonUnmarshal decodes the value v of key k into out.
func jsonUnmarshal(k, v []byte, out any) error {
	if err := json.Unmarshal(v, out); err != nil {
		return fmt.Errorf("decode %q: %w", k, err)
	}
	return nil
}
