package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/store"
)

// consumeOwnerScript: KEYS the user's live-token key; ARGV hash. It deletes
// the key and answers 1 when it names this hash, else answers 0.
var consumeOwnerScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
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
	if errors.Is(err, redis.Nil) || (err == nil && old == hash) {
		return nil
	}
	if err != nil {
		return classify(op, err)
	}
	return classify(op, s.client.Del(ctx, s.oneTimeKey(purpose, old)).Err())
}

// ConsumeOneTime deletes the token and returns its user; ErrNotFound when
// unknown, used, superseded or expired. GETDEL makes sure only one caller
// gets the token; the user's live-token key then tells whether a newer
// token superseded it.
func (s *Store) ConsumeOneTime(ctx context.Context, purpose, hash string) (string, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := "consume " + purpose + " token"
	userID, err := s.client.GetDel(ctx, s.oneTimeKey(purpose, hash)).Result()
	if err != nil {
		return "", classify(op, err)
	}
	live, err := consumeOwnerScript.Run(ctx, s.client, []string{s.oneTimeUserKey(purpose, userID)}, hash).Int()
	if err != nil {
		return "", classify(op, err)
	}
	if live != 1 {
		return "", fmt.Errorf("%s: superseded: %w", op, store.ErrNotFound)
	}
	return userID, nil
}
