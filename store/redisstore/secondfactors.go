package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"authgate/store"
)

// A user's second factors are one hash, P{u}:second-factors:<id>, with the
// fields "version" and "record" (store.EncodeSecondFactors). It lives in
// the slot of "{u}" with the users, so DeleteUser removes it in the same
// atomic script as the user; every other operation touches only this key.
//
// Know every retry: go-redis sends a command again when its reply is lost
// (a network error after Redis ran it; MaxRetries, 3 by default), and
// redis.Script sends EVAL after EVALSHA answers NOSCRIPT. A compare-and-swap
// that only compared versions would see, on such a retry, the version its
// own first run wrote and answer "conflict": a write that succeeded would
// be reported as lost, and the caller would retry on a record that already
// holds its change (a TOTP step or recovery code then counted as spent by
// someone else). So the script first compares the stored record with the
// bytes it is to write: equal means this very write was applied, and the
// answer is success. The bytes hold the new version, so only a write of the
// same record from the same version can match; a different record at a
// stale version still conflicts. (One case stays: another write lands
// between the lost reply and the retry; the retry then conflicts, and the
// caller re-reads a record that already holds its change. Callers treat
// ErrConflict as "re-read and decide again", which is safe for that.)

// putSecondFactorsScript: KEYS the user's second-factors hash; ARGV the
// version the caller read, the version to write, the record to write.
var putSecondFactorsScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'record')
if cur == ARGV[3] then return 'ok' end
local v = redis.call('HGET', KEYS[1], 'version')
if not v then v = '0' end
if v ~= ARGV[1] then return 'conflict' end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'record', ARGV[3])
return 'ok'
`)

// GetSecondFactors returns the user's record, or an empty one (Version 0).
func (s *Store) GetSecondFactors(ctx context.Context, userID string) (store.SecondFactors, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("get second factors of %q", userID)
	raw, err := s.client.HGet(ctx, s.secondFactorsKey(userID), "record").Bytes()
	if errors.Is(err, redis.Nil) {
		return store.SecondFactors{UserID: userID}, nil
	}
	if err != nil {
		return store.SecondFactors{}, classify(op, err)
	}
	f, err := store.DecodeSecondFactors(raw)
	if err != nil {
		return store.SecondFactors{}, fmt.Errorf("%s: %w", op, err)
	}
	return f, nil
}

// PutSecondFactors stores f when the stored version is f.Version, in one
// script (see putSecondFactorsScript for why a retry succeeds).
func (s *Store) PutSecondFactors(ctx context.Context, f store.SecondFactors) (store.SecondFactors, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("put second factors of %q", f.UserID)
	if f.UserID == "" {
		return store.SecondFactors{}, errors.New("put second factors: no user ID")
	}
	out := f
	out.Version = f.Version + 1
	raw, err := store.EncodeSecondFactors(out)
	if err != nil {
		return store.SecondFactors{}, err
	}
	keys := []string{s.secondFactorsKey(f.UserID)}
	answer, err := putSecondFactorsScript.Run(ctx, s.client, keys,
		strconv.FormatInt(f.Version, 10), strconv.FormatInt(out.Version, 10), raw).Text()
	if err != nil {
		return store.SecondFactors{}, classify(op, err)
	}
	switch answer {
	case "ok":
	case "conflict":
		return store.SecondFactors{}, fmt.Errorf("%s: version %d is not the stored one: %w", op, f.Version, store.ErrConflict)
	default:
		return store.SecondFactors{}, fmt.Errorf("%s: unexpected script answer %q", op, answer)
	}
	// What was stored, read back from its bytes: times in UTC, as Get
	// returns them.
	stored, err := store.DecodeSecondFactors(raw)
	if err != nil {
		return store.SecondFactors{}, fmt.Errorf("%s: %w", op, err)
	}
	return stored, nil
}

// DeleteSecondFactors removes the user's record, if any.
func (s *Store) DeleteSecondFactors(ctx context.Context, userID string) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	return classify(fmt.Sprintf("delete second factors of %q", userID), s.client.Del(ctx, s.secondFactorsKey(userID)).Err())
}
