package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"authgate/store"
)

// Links live in the slot of "{u}" with the users, so linking checks the
// user and deleting a user drops its links in the same atomic script. The
// field of a link is provider, a zero byte, subject: provider names never
// hold a zero byte, so it splits back unambiguously.

// linkScript: KEYS user, identities, user's identities; ARGV field, user
// ID, JSON. Linking the same pair to the same user again answers "ok", so a
// retry after a lost reply (go-redis retries on network errors) succeeds.
var linkScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 'notfound' end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur then
  if cur == ARGV[2] then return 'ok' end
  return 'taken'
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
return 'ok'
`)

// unlinkScript: KEYS identities, user's identities; ARGV field, user ID.
var unlinkScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('HDEL', KEYS[2], ARGV[1])
return 'ok'
`)

func identityField(provider, subject string) string { return provider + "\x00" + subject }

// LinkIdentity links the provider account to the user.
func (s *Store) LinkIdentity(ctx context.Context, id store.Identity) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("link %s identity", id.Provider)
	raw, err := json.Marshal(id)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", op, err)
	}
	keys := []string{s.userKey(id.UserID), s.identitiesKey(), s.userIdentitiesKey(id.UserID)}
	answer, err := linkScript.Run(ctx, s.client, keys, identityField(id.Provider, id.Subject), id.UserID, raw).Text()
	if err != nil {
		return classify(op, err)
	}
	if answer == "taken" {
		return fmt.Errorf("%s: %w", op, store.ErrIdentityTaken)
	}
	if err := scriptOutcome(answer); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// IdentityUser returns the user linked to the provider account.
func (s *Store) IdentityUser(ctx context.Context, provider, subject string) (string, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	uid, err := s.client.HGet(ctx, s.identitiesKey(), identityField(provider, subject)).Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("find %s identity: %w", provider, store.ErrNotFound)
	}
	if err != nil {
		return "", classify("find "+provider+" identity", err)
	}
	return uid, nil
}

// UserIdentities lists the user's links by provider, then subject.
func (s *Store) UserIdentities(ctx context.Context, userID string) ([]store.Identity, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	const op = "list identities"
	all, err := s.client.HGetAll(ctx, s.userIdentitiesKey(userID)).Result()
	if err != nil {
		return nil, classify(op, err)
	}
	out := make([]store.Identity, 0, len(all))
	for field, raw := range all {
		var id store.Identity
		if err := json.Unmarshal([]byte(raw), &id); err != nil {
			return nil, fmt.Errorf("%s: decode %q: %w", op, field, err)
		}
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b store.Identity) int {
		return cmp.Or(cmp.Compare(a.Provider, b.Provider), cmp.Compare(a.Subject, b.Subject))
	})
	return out, nil
}

// UnlinkIdentity removes the link when it belongs to userID.
func (s *Store) UnlinkIdentity(ctx context.Context, userID, provider, subject string) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	keys := []string{s.identitiesKey(), s.userIdentitiesKey(userID)}
	return classify("unlink identity", unlinkScript.Run(ctx, s.client, keys, identityField(provider, subject), userID).Err())
}
