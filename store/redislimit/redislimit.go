// Package redislimit is the store of rate-limit and lockout counters
// (ulule/limiter's limiter.Store) in the Redis that every instance shares.
//
// It exists instead of ulule's own Redis driver for one reason: an attempt
// must be counted once. go-redis sends a script again when its reply was
// lost (EOF is retryable, MaxRetries 3), and ulule's INCRBY script then
// counts the same login attempt up to four times, so a flaky network locks
// accounts out early and rate-limits clients that stayed within their
// limit. Here every increment carries a random attempt ID; the counter
// remembers the last few IDs, and a retry of the same call gets the count
// its first run made. Windows, limits and headers are ulule's: a fixed
// window that starts with the first attempt.
//
// Key (P is the prefix): P:<limiter key>, a hash {n: count, r: the last
// attempt IDs}, expiring with its window. Every script touches that one
// key, so it works on Redis Cluster.
package redislimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/common"
)

// attemptBytes is the entropy of an attempt ID (hex: 24 characters).
const attemptBytes = 12

// incrScript: KEYS counter; ARGV count, window (ms), attempt ID. It answers
// {count, ms left in the window}. The last 8 attempt IDs are kept in "r",
// 25 characters each (ID and a space); a retry finds its ID there and
// counts nothing.
var incrScript = redis.NewScript(`
local recent = redis.call('HGET', KEYS[1], 'r') or ''
if string.find(recent, ARGV[3], 1, true) then
  return {tonumber(redis.call('HGET', KEYS[1], 'n') or '0'), redis.call('PTTL', KEYS[1])}
end
local n = redis.call('HINCRBY', KEYS[1], 'n', ARGV[1])
redis.call('HSET', KEYS[1], 'r', ARGV[3] .. ' ' .. string.sub(recent, 1, 25 * 7))
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return {n, ttl}
`)

// peekScript: KEYS counter. {count, ms left}, {0, 0} when there is none.
var peekScript = redis.NewScript(`
local n = redis.call('HGET', KEYS[1], 'n')
if not n then return {0, 0} end
return {tonumber(n), redis.call('PTTL', KEYS[1])}
`)

// Store is a limiter.Store in Redis. Create it with New.
type Store struct {
	client redis.UniversalClient
	prefix string
}

// New returns a store keeping its counters under prefix + ":" in client.
// It does not own the client.
func New(client redis.UniversalClient, prefix string) *Store {
	return &Store{client: client, prefix: prefix}
}

func (s *Store) key(k string) string { return s.prefix + ":" + k }

// Get counts one attempt for key and returns the state of its window.
func (s *Store) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return s.Increment(ctx, key, 1, rate)
}

// Increment counts count attempts for key, once however often go-redis
// sends the script.
func (s *Store) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	var b [attemptBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return limiter.Context{}, fmt.Errorf("rate limit attempt id: %w", err)
	}
	v, err := incrScript.Run(ctx, s.client, []string{s.key(key)}, count, rate.Period.Milliseconds(), hex.EncodeToString(b[:])).Int64Slice()
	return state(v, err, rate)
}

// Peek returns the state of key's window without counting.
func (s *Store) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	v, err := peekScript.Run(ctx, s.client, []string{s.key(key)}).Int64Slice()
	return state(v, err, rate)
}

// Reset forgets key's count (safe to send twice).
func (s *Store) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	if err := s.client.Del(ctx, s.key(key)).Err(); err != nil {
		return limiter.Context{}, fmt.Errorf("rate limit reset: %w", err)
	}
	return common.GetContextFromState(time.Now(), rate, time.Now().Add(rate.Period), 0), nil
}

// state turns a script's {count, ms left} into a limiter.Context.
func state(v []int64, err error, rate limiter.Rate) (limiter.Context, error) {
	if err != nil {
		return limiter.Context{}, fmt.Errorf("rate limit: %w", err)
	}
	if len(v) != 2 {
		return limiter.Context{}, fmt.Errorf("rate limit: %d values from the script, want 2", len(v))
	}
	now := time.Now()
	expiration := now.Add(rate.Period)
	if v[1] > 0 {
		expiration = now.Add(time.Duration(v[1]) * time.Millisecond)
	}
	return common.GetContextFromState(now, rate, expiration, v[0]), nil
}

var _ limiter.Store = (*Store)(nil)
