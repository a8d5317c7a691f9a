package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/store"
)

// A consumption takes two scripts, one per key (the token's key and the
// user's live-token key live in different hash slots). go-redis runs a
// script again when its reply was lost; a plain GETDEL and DEL would then
// find nothing and burn the token for nothing. So each script leaves, for
// consumedKeep, a "used" mark naming the call (a random attempt ID that a
// retry carries again) in place of what it consumed, and a retry of the
// same call finds its own mark and gets the same answer; any other call
// finds the token used.

// usedMark starts the value that replaces a consumed token; user IDs and
// token hashes never start with a zero byte.
const usedMark = "\x00used "

// consumedKeep is how long the used marks answer retries.
const consumedKeep = time.Minute

// consumeTokenScript: KEYS the token's key; ARGV attempt, keep (ms). It
// answers the token's user ID and marks the token used by this attempt, or
// answers the user ID again to the same attempt, or false.
var consumeTokenScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
local mark = '\0used ' .. ARGV[1] .. ' '
if string.sub(v, 1, 1) == '\0' then
  if string.sub(v, 1, #mark) == mark then return string.sub(v, #mark + 1) end
  return false
end
redis.call('SET', KEYS[1], mark .. v, 'PX', ARGV[2])
return v
`)

// consumeOwnerScript: KEYS the user's live-token key; ARGV hash, attempt,
// keep (ms). It answers 1 when the key names this hash (and marks it used
// by this attempt) or holds this attempt's mark, else 0.
var consumeOwnerScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local mark = '\0used ' .. ARGV[2] .. ' ' .. ARGV[1]
if v == ARGV[1] then
  redis.call('SET', KEYS[1], mark, 'PX', ARGV[3])
  return 1
end
if v == mark then return 1 end
return 0
`)

// expireAtMillis is t in Unix ms for SET ... PXAT, which refuses values
// below 1 (a time that long past expires the key at once all the same).
func expireAtMillis(t time.Time) int64 {
	return max(t.UnixMilli(), 1)
}

// PutOneTime stores the token and makes it the user's live token of this
// purpose, which invalidates the earlier one (deleted here as well).
func (s *Store) PutOneTime(ctx context.Context, purpose, hash, userID string, expiresAt time.Time) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := "put " + purpose + " token"
	at := expireAtMillis(expiresAt)
	if err := s.client.Do(ctx, "SET", s.oneTimeKey(purpose, hash), userID, "PXAT", at).Err(); err != nil {
		return classify(op, err)
	}
	old, err := s.client.Do(ctx, "SET", s.oneTimeUserKey(purpose, userID), hash, "PXAT", at, "GET").Text()
	// A retry after a lost reply reads back this very hash (the earlier
	// token then stays in its key until it expires, unusable: the
	// live-token key no longer names it); a used mark names no token.
	if errors.Is(err, redis.Nil) || (err == nil && (old == hash || strings.HasPrefix(old, usedMark))) {
		return nil
	}
	if err != nil {
		return classify(op, err)
	}
	return classify(op, s.client.Del(ctx, s.oneTimeKey(purpose, old)).Err())
}

// ConsumeOneTime consumes the token and returns its user; ErrNotFound when
// unknown, used, superseded or expired. The first script makes sure only
// one caller gets the token; the user's live-token key then tells whether
// a newer token superseded it. Both are safe to retry (see usedMark).
func (s *Store) ConsumeOneTime(ctx context.Context, purpose, hash string) (string, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := "consume " + purpose + " token"
	var b [attemptBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("%s: attempt id: %w", op, err)
	}
	attempt, keep := hex.EncodeToString(b[:]), consumedKeep.Milliseconds()
	userID, err := consumeTokenScript.Run(ctx, s.client, []string{s.oneTimeKey(purpose, hash)}, attempt, keep).Text()
	if err != nil {
		return "", classify(op, err)
	}
	live, err := consumeOwnerScript.Run(ctx, s.client, []string{s.oneTimeUserKey(purpose, userID)}, hash, attempt, keep).Int()
	if err != nil {
		return "", classify(op, err)
	}
	if live != 1 {
		return "", fmt.Errorf("%s: superseded: %w", op, store.ErrNotFound)
	}
	return userID, nil
}
