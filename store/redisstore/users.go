package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"authgate/store"
)

// Every user key shares the hash slot of "{u}", so each change of a user
// and its indexes is one atomic script. The scripts return "ok" or the name
// of what stopped them.

// createUserScript: KEYS user, ids, name, email; ARGV id, JSON, has-email.
//
// A retry after a lost reply finds the very record it wrote (the JSON holds
// the ID and the creation time to the nanosecond) and answers "ok" instead
// of "id".
var createUserScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[2] then return 'ok' end
  return 'id'
end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'username' end
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then return 'email' end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[1])
if ARGV[3] == '1' then redis.call('SET', KEYS[4], ARGV[1]) end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 'ok'
`)

// updateUserScript: KEYS user, new name, old name, new email, old email;
// ARGV id, JSON read before, new JSON, has-new-email, has-old-email. It
// changes nothing ("conflict") unless the record is still the one read; a
// retry after a lost reply finds the new record already in place: "ok".
var updateUserScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 'notfound' end
if cur == ARGV[3] then return 'ok' end
if cur ~= ARGV[2] then return 'conflict' end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[1] then return 'username' end
if ARGV[4] == '1' then
  owner = redis.call('GET', KEYS[4])
  if owner and owner ~= ARGV[1] then return 'email' end
end
if KEYS[3] ~= KEYS[2] and redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
end
if ARGV[5] == '1' and (ARGV[4] ~= '1' or KEYS[5] ~= KEYS[4]) and redis.call('GET', KEYS[5]) == ARGV[1] then
  redis.call('DEL', KEYS[5])
end
redis.call('SET', KEYS[2], ARGV[1])
if ARGV[4] == '1' then redis.call('SET', KEYS[4], ARGV[1]) end
redis.call('SET', KEYS[1], ARGV[3])
return 'ok'
`)

// deleteUserScript: KEYS user, ids, name, email, identities, user's
// identities, user's second factors; ARGV id, JSON read before, has-email.
// The user's provider links and second factors go with it.
var deleteUserScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then return 'notfound' end
if cur ~= ARGV[2] then return 'conflict' end
for _, f in ipairs(redis.call('HKEYS', KEYS[6])) do
  if redis.call('HGET', KEYS[5], f) == ARGV[1] then redis.call('HDEL', KEYS[5], f) end
end
redis.call('DEL', KEYS[6], KEYS[7])
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
if ARGV[3] == '1' and redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 'ok'
`)

// maxAttempts bounds the retries of an update that raced with another
// change of the same user.
const maxAttempts = 16

// errConflict: the user kept changing under UpdateUser or DeleteUser.
var errConflict = errors.New("user changed concurrently, gave up")

// flag is "1" for true, "0" for false, as the scripts expect.
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// scriptOutcome maps a user script's answer to an error.
func scriptOutcome(answer string) error {
	switch answer {
	case "ok":
		return nil
	case "username":
		return store.ErrUsernameTaken
	case "email":
		return store.ErrEmailTaken
	case "notfound":
		return store.ErrNotFound
	case "conflict":
		return errConflict
	case "id":
		return errors.New("user id already in use")
	}
	return fmt.Errorf("unexpected script answer %q", answer)
}

// CreateUser stores u and its index entries atomically; ErrUsernameTaken
// or ErrEmailTaken on a folded clash.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("create user %q", u.Username)
	raw, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", op, err)
	}
	email := store.Fold(u.Email)
	keys := []string{s.userKey(u.ID), s.idsKey(), s.nameKey(store.Fold(u.Username)), s.emailKey(email)}
	answer, err := createUserScript.Run(ctx, s.client, keys, u.ID, raw, flag(email != "")).Text()
	if err != nil {
		return classify(op, err)
	}
	if err := scriptOutcome(answer); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// GetUser returns the user with this ID; ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	u, _, err := s.getUser(ctx, id)
	if err != nil {
		return store.User{}, fmt.Errorf("get user %q: %w", id, err)
	}
	return u, nil
}

// getUser returns the user and its record as stored.
func (s *Store) getUser(ctx context.Context, id string) (store.User, string, error) {
	raw, err := s.client.Get(ctx, s.userKey(id)).Result()
	if err != nil {
		return store.User{}, "", classify("read", err)
	}
	var u store.User
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		return store.User{}, "", fmt.Errorf("decode: %w", err)
	}
	return u, raw, nil
}

// GetUserByUsername returns the user whose folded username matches; ErrNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	return s.getBy(ctx, "username", s.nameKey, username)
}

// GetUserByEmail returns the user whose folded email matches; ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	return s.getBy(ctx, "email", s.emailKey, email)
}

func (s *Store) getBy(ctx context.Context, what string, indexKey func(string) string, k string) (store.User, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("get user by %s %q", what, k)
	folded := store.Fold(k)
	if folded == "" {
		return store.User{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	id, err := s.client.Get(ctx, indexKey(folded)).Result()
	if err != nil {
		return store.User{}, classify(op, err)
	}
	u, _, err := s.getUser(ctx, id)
	if err != nil {
		return store.User{}, fmt.Errorf("%s: %w", op, err)
	}
	return u, nil
}

// UpdateUser replaces the user with u.ID and moves its index entries,
// atomically.
func (s *Store) UpdateUser(ctx context.Context, u store.User) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("update user %q", u.ID)
	raw, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", op, err)
	}
	name, email := store.Fold(u.Username), store.Fold(u.Email)
	return retryOnConflict(op, func() (string, error) {
		old, oldRaw, err := s.getUser(ctx, u.ID)
		if err != nil {
			return "", fmt.Errorf("%s: %w", op, err)
		}
		oldEmail := store.Fold(old.Email)
		keys := []string{
			s.userKey(u.ID), s.nameKey(name), s.nameKey(store.Fold(old.Username)),
			s.emailKey(email), s.emailKey(oldEmail),
		}
		answer, err := updateUserScript.Run(ctx, s.client, keys, u.ID, oldRaw, raw, flag(email != ""), flag(oldEmail != "")).Text()
		if err != nil {
			return "", classify(op, err)
		}
		return answer, nil
	})
}

// DeleteUser removes the user and its index entries atomically; ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("delete user %q", id)
	return retryOnConflict(op, func() (string, error) {
		old, oldRaw, err := s.getUser(ctx, id)
		if err != nil {
			return "", fmt.Errorf("%s: %w", op, err)
		}
		email := store.Fold(old.Email)
		keys := []string{s.userKey(id), s.idsKey(), s.nameKey(store.Fold(old.Username)), s.emailKey(email),
			s.identitiesKey(), s.userIdentitiesKey(id), s.secondFactorsKey(id)}
		answer, err := deleteUserScript.Run(ctx, s.client, keys, id, oldRaw, flag(email != "")).Text()
		if err != nil {
			return "", classify(op, err)
		}
		if answer == "notfound" {
			// The user was read a moment ago: it is gone since, deleted
			// by this very script whose reply was lost and which go-redis
			// ran again, or by a concurrent delete. Either way the user
			// is deleted, which is what the caller asked for.
			answer = "ok"
		}
		return answer, nil
	})
}

// retryOnConflict runs attempt, which reads the user and runs a script that
// checks the record is still the one read, up to maxAttempts times while
// the script answers that it changed meanwhile. attempt's errors are
// returned as they are; the script's answer is turned into the outcome.
func retryOnConflict(op string, attempt func() (answer string, err error)) error {
	for range maxAttempts {
		answer, err := attempt()
		if err != nil {
			return err
		}
		if err := scriptOutcome(answer); !errors.Is(err, errConflict) {
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%s: %w", op, errConflict)
}

// ListUsers returns up to limit users ordered by ID after the ID `after`,
// and the cursor of the next page ("" at the end).
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]store.User, string, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	const op = "list users"
	if limit <= 0 {
		return nil, "", fmt.Errorf("%s: limit %d is not positive", op, limit)
	}
	start := "-"
	if after != "" {
		start = "(" + after
	}
	ids, err := s.client.ZRangeArgs(ctx, redis.ZRangeArgs{
		Key: s.idsKey(), Start: start, Stop: "+", ByLex: true, Count: int64(limit) + 1,
	}).Result()
	if err != nil {
		return nil, "", classify(op, err)
	}
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	if len(ids) == 0 {
		return nil, "", nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.userKey(id)
	}
	raws, err := s.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, "", classify(op, err)
	}
	page := make([]store.User, 0, len(raws))
	for i, raw := range raws {
		str, ok := raw.(string)
		if !ok {
			continue // deleted since the range was read
		}
		var u store.User
		if err := json.Unmarshal([]byte(str), &u); err != nil {
			return nil, "", fmt.Errorf("%s: decode user %q: %w", op, ids[i], err)
		}
		page = append(page, u)
	}
	return page, next, nil
}
