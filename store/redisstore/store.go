// Package redisstore is the store.Store shared by many gateway instances:
// everything lives in Redis (single node, Sentinel or Cluster) under one
// key prefix, and revocations reach every instance over pub/sub.
//
// Key layout (P is the prefix, default "authgate:"):
//
//	P{u}:user:<id>             string  JSON store.User
//	P{u}:name:<Fold(username)> string  user ID
//	P{u}:email:<Fold(email)>   string  user ID
//	P{u}:ids                   zset    user IDs, score 0, for ListUsers by ID
//	P{u}:identities            hash    provider 0 subject → user ID (provider links)
//	P{u}:user-identities:<id>  hash    provider 0 subject → JSON store.Identity
//	P{u}:second-factors:<id>   hash    version, record (JSON store.SecondFactors; secondfactors.go)
//	P{s:<sid>}:session         hash    session fields, expires at RefreshExpiresAt
//	P{s:<sid>}:spent           set     spent refresh hashes, expires with the session
//	P{s:<sid>}:next            hash    spent hash → "<successor hash> <spent at, Unix ms> <attempt>"
//	P{s:<sid>}:reused          hash    the session as it was when reuse deleted it, for a minute
//	Psecret:<name>             string  a shared secret (the refresh successor key)
//	Puser-sessions:<user ID>   set     session IDs, expires at the last session end
//	P{r}:revoked               zset    session ID scored by until (Unix ms)
//	P{r}:seq, :epoch, :members, :acked  the revocation numbering and leases (revocations.go)
//	Pot:<purpose>:<hash>       string  user ID of a one-time token, expires with it
//	Pot-user:<purpose>:<uid>   string  hash of the user's live token of that purpose
//
// and the pub/sub channel Prevocations. Every script and transaction touches
// keys of one hash slot only, so all of it works on Redis Cluster: all user
// records and their name and email indexes share the slot of "{u}" (which is
// what lets CreateUser, UpdateUser and DeleteUser be single atomic scripts);
// a session and its spent set share the slot of "{s:<sid>}". Requires Redis
// 6.2 or later.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/store"
)

// Store is a store.Store in Redis. Create it with New.
type Store struct {
	client      redis.UniversalClient
	prefix      string
	timeout     time.Duration
	healthCheck time.Duration
	log         *slog.Logger

	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Option adjusts New.
type Option func(*Store)

// WithTimeout bounds every store method (all the Redis calls it makes,
// retries included). Default 0: only the client's own timeouts apply.
func WithTimeout(d time.Duration) Option {
	return func(s *Store) { s.timeout = d }
}

// WithHealthCheck sets how long WatchRevocations waits without a message
// before it pings Redis to find out whether the subscription is still alive
// (default 3s).
func WithHealthCheck(d time.Duration) Option {
	return func(s *Store) { s.healthCheck = d }
}

// WithLogger sets where problems that do not fail a call are reported
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) { s.log = l }
}

// New returns a store keeping its keys under prefix in client. The store
// owns the client: Close closes it.
func New(client redis.UniversalClient, prefix string, opts ...Option) *Store {
	s := &Store{
		client:      client,
		prefix:      prefix,
		healthCheck: 3 * time.Second,
		log:         slog.Default(),
		closing:     make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// call bounds ctx by the store's timeout.
func (s *Store) call(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout > 0 {
		return context.WithTimeout(ctx, s.timeout)
	}
	return ctx, func() {}
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	return classify("ping", s.client.Ping(ctx).Err())
}

// Close ends every WatchRevocations and closes the client.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		if err := s.client.Close(); err != nil {
			s.closeErr = fmt.Errorf("close redis client: %w", err)
		}
	})
	return s.closeErr
}

// classify wraps err with op: redis.Nil becomes store.ErrNotFound, a
// failure to reach a Redis that can serve us gets store.ErrUnavailable, and
// other server replies (a bug of ours or a wrong server) stay as they are.
func classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	case isReply(err):
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w", op, errors.Join(store.ErrUnavailable, err))
}

// isReply reports whether err is an error reply of a server that is
// otherwise working for us (not loading, failing over, down, out of memory,
// or refusing our credentials).
func isReply(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	return !redis.IsLoadingError(err) && !redis.IsReadOnlyError(err) &&
		!redis.IsClusterDownError(err) && !redis.IsTryAgainError(err) &&
		!redis.IsMasterDownError(err) && !redis.IsMaxClientsError(err) &&
		!redis.IsOOMError(err) && !redis.IsNoReplicasError(err) &&
		!redis.IsAuthError(err) && !redis.IsPermissionError(err)
}

// Keys; see the package documentation.

func (s *Store) userKey(id string) string      { return s.prefix + "{u}:user:" + id }
func (s *Store) nameKey(folded string) string  { return s.prefix + "{u}:name:" + folded }
func (s *Store) emailKey(folded string) string { return s.prefix + "{u}:email:" + folded }
func (s *Store) idsKey() string                { return s.prefix + "{u}:ids" }
func (s *Store) identitiesKey() string         { return s.prefix + "{u}:identities" }
func (s *Store) userIdentitiesKey(uid string) string {
	return s.prefix + "{u}:user-identities:" + uid
}
func (s *Store) secondFactorsKey(uid string) string {
	return s.prefix + "{u}:second-factors:" + uid
}
func (s *Store) sessionKey(sid string) string { return s.prefix + "{s:" + sid + "}:session" }
func (s *Store) spentKey(sid string) string   { return s.prefix + "{s:" + sid + "}:spent" }
func (s *Store) nextKey(sid string) string    { return s.prefix + "{s:" + sid + "}:next" }
func (s *Store) reusedKey(sid string) string  { return s.prefix + "{s:" + sid + "}:reused" }
func (s *Store) secretKey(name string) string { return s.prefix + "secret:" + name }
func (s *Store) userSessionsKey(uid string) string {
	return s.prefix + "user-sessions:" + uid
}
func (s *Store) revokedKey() string         { return s.prefix + "{r}:revoked" }
func (s *Store) seqKey() string             { return s.prefix + "{r}:seq" }
func (s *Store) epochKey() string           { return s.prefix + "{r}:epoch" }
func (s *Store) membersKey() string         { return s.prefix + "{r}:members" }
func (s *Store) ackedKey() string           { return s.prefix + "{r}:acked" }
func (s *Store) revocationsChannel() string { return s.prefix + "revocations" }
func (s *Store) oneTimeKey(purpose, hash string) string {
	return s.prefix + "ot:" + purpose + ":" + hash
}
func (s *Store) oneTimeUserKey(purpose, uid string) string {
	return s.prefix + "ot-user:" + purpose + ":" + uid
}

var _ store.Store = (*Store)(nil)
