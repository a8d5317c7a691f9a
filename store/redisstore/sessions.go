package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/store"
)

// timeLayout writes session times in UTC with a fixed width, so the scripts
// can compare them as strings.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// Fields of the session hash.
const (
	fieldID               = "id"
	fieldUserID           = "uid"
	fieldRefreshHash      = "rh"
	fieldCreatedAt        = "c"
	fieldRefreshExpiresAt = "rx"
	fieldExpiresAt        = "x"
	fieldExpiresAtMillis  = "xms" // ExpiresAt in Unix ms, for PEXPIREAT
	// How the session was authenticated; absent in sessions stored before
	// second factors, which read as zero values.
	fieldAMR      = "amr" // the methods, space-separated (RFC 8176 values hold no space)
	fieldAuthTime = "at"
	fieldStep     = "mfa"
)

// sessionFields is the hash of se.
func sessionFields(se store.Session) []any {
	return []any{
		fieldID, se.ID,
		fieldUserID, se.UserID,
		fieldRefreshHash, se.RefreshHash,
		fieldCreatedAt, se.CreatedAt.UTC().Format(timeLayout),
		fieldRefreshExpiresAt, se.RefreshExpiresAt.UTC().Format(timeLayout),
		fieldExpiresAt, se.ExpiresAt.UTC().Format(timeLayout),
		fieldExpiresAtMillis, se.ExpiresAt.UnixMilli(),
		fieldAMR, strings.Join(se.AMR, " "),
		fieldAuthTime, authTime(se.AuthTime),
		fieldStep, se.Step,
	}
}

// authTime writes AuthTime, "" for the zero time.
func authTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// decodeSession reads a session hash; ErrNotFound when it is empty.
func decodeSession(h map[string]string) (store.Session, error) {
	if len(h) == 0 {
		return store.Session{}, store.ErrNotFound
	}
	se := store.Session{ID: h[fieldID], UserID: h[fieldUserID], RefreshHash: h[fieldRefreshHash]}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{
		{fieldCreatedAt, &se.CreatedAt},
		{fieldRefreshExpiresAt, &se.RefreshExpiresAt},
		{fieldExpiresAt, &se.ExpiresAt},
	} {
		t, err := time.Parse(time.RFC3339Nano, h[f.name])
		if err != nil {
			return store.Session{}, fmt.Errorf("decode session field %s: %w", f.name, err)
		}
		*f.dst = t
	}
	if amr := h[fieldAMR]; amr != "" {
		se.AMR = strings.Fields(amr)
	}
	se.Step = h[fieldStep]
	if at := h[fieldAuthTime]; at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return store.Session{}, fmt.Errorf("decode session field %s: %w", fieldAuthTime, err)
		}
		se.AuthTime = t
	}
	return se, nil
}

// pairs turns a flat HGETALL reply into a map.
func pairs(flat []any) map[string]string {
	h := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		h[k] = v
	}
	return h
}

// indexSessionScript adds ARGV[1] to the user's session set KEYS[1] and
// makes the set live at least ARGV[2] more milliseconds.
var indexSessionScript = redis.NewScript(`
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`)

// CreateSession stores se, expiring at its RefreshExpiresAt, and indexes
// it under its user (first, so a live session is never missing from the
// index; UserSessions skips index entries whose session is gone).
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("create session %q", se.ID)
	end := se.ExpiresAt
	if se.RefreshExpiresAt.After(end) {
		end = se.RefreshExpiresAt
	}
	if life := time.Until(end).Milliseconds(); life > 0 {
		err := indexSessionScript.Run(ctx, s.client, []string{s.userSessionsKey(se.UserID)}, se.ID, life).Err()
		if err != nil {
			return classify(op, err)
		}
	}
	sk := s.sessionKey(se.ID)
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, sk, s.spentKey(se.ID), s.nextKey(se.ID), s.reusedKey(se.ID))
		p.HSet(ctx, sk, sessionFields(se)...)
		p.PExpireAt(ctx, sk, se.RefreshExpiresAt)
		return nil
	})
	return classify(op, err)
}

// rotateScript: KEYS session, spent, next, reused; ARGV presented hash, new
// hash, new refresh expiry (timeLayout), same in Unix ms, grace in ms,
// attempt. It answers {1, session} after a rotation, {3, session} after a
// replay, {2, session as it was} after deleting a session whose spent hash
// was presented, {0} otherwise.
//
// The attempt is a random value per RotateRefresh call, which go-redis
// sends again when it retries the script after a lost reply: the retry of
// a rotation finds the hash spent to the same successor by the same
// attempt and replays (whatever the grace), and the retry of a reuse finds
// the session moved to the reused key with its attempt and answers reuse
// again, so the caller still revokes the session. Times come from Redis's
// own clock (TIME), the same for every instance.
var rotateScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = redis.call('HGET', KEYS[1], 'rh')
if not live then
  if redis.call('HGET', KEYS[4], 'attempt') == ARGV[6] then
    return {2, redis.call('HGETALL', KEYS[4])}
  end
  return {0}
end
if live == ARGV[1] then
  local rx, rxms = ARGV[3], ARGV[4]
  local x = redis.call('HGET', KEYS[1], 'x')
  if x and rx > x then
    rx = x
    rxms = redis.call('HGET', KEYS[1], 'xms')
  end
  redis.call('HSET', KEYS[1], 'rh', ARGV[2], 'rx', rx)
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. ' ' .. string.format('%d', now) .. ' ' .. ARGV[6])
  local cur = redis.call('HGETALL', KEYS[1])
  redis.call('PEXPIREAT', KEYS[1], rxms)
  redis.call('PEXPIREAT', KEYS[2], rxms)
  redis.call('PEXPIREAT', KEYS[3], rxms)
  return {1, cur}
end
local rec = redis.call('HGET', KEYS[3], ARGV[1])
if rec then
  local nxt, at, attempt = string.match(rec, '^(%S+) (%d+) (%S+)$')
  if nxt == ARGV[2] and (attempt == ARGV[6] or now - tonumber(at) < tonumber(ARGV[5])) then
    return {3, redis.call('HGETALL', KEYS[1])}
  end
elseif redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  return {0}
end
local was = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('RENAME', KEYS[1], KEYS[4])
redis.call('HSET', KEYS[4], 'attempt', ARGV[6])
redis.call('PEXPIRE', KEYS[4], ARGV[7])
return {2, was}
`)

// reusedKeep is how long the reused key answers the retries of the call
// that found the reuse; longer than any call (with its retries) lasts.
const reusedKeep = time.Minute

// Outcomes of rotateScript.
const (
	rotateNone   = 0
	rotateDone   = 1
	rotateReused = 2
	rotateReplay = 3
	attemptBytes = 12
)

// RotateRefresh replaces the live refresh hash of sid atomically (one
// script, safe to retry); see store.Sessions.
func (s *Store) RotateRefresh(ctx context.Context, sid string, r store.Rotation) (store.Session, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("rotate refresh of session %q", sid)
	var attempt [attemptBytes]byte
	if _, err := rand.Read(attempt[:]); err != nil {
		return store.Session{}, fmt.Errorf("%s: attempt id: %w", op, err)
	}
	reply, err := rotateScript.Run(ctx, s.client,
		[]string{s.sessionKey(sid), s.spentKey(sid), s.nextKey(sid), s.reusedKey(sid)},
		r.PresentedHash, r.NextHash, r.RefreshExpiresAt.UTC().Format(timeLayout), r.RefreshExpiresAt.UnixMilli(),
		max(r.Grace.Milliseconds(), 0), hex.EncodeToString(attempt[:]), reusedKeep.Milliseconds()).Slice()
	if err != nil {
		return store.Session{}, classify(op, err)
	}
	outcome, _ := reply[0].(int64)
	if outcome == rotateNone {
		return store.Session{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	var flat []any
	if len(reply) > 1 {
		flat, _ = reply[1].([]any)
	}
	se, err := decodeSession(pairs(flat))
	if err != nil {
		return store.Session{}, fmt.Errorf("%s: %w", op, err)
	}
	if outcome == rotateReused {
		s.unindexSession(ctx, se.UserID, sid)
		return se, fmt.Errorf("%s: %w", op, store.ErrRefreshReused)
	}
	return se, nil
}

// unindexSession drops sid from the user's index. A failure is only
// logged: UserSessions skips entries whose session is gone anyway.
func (s *Store) unindexSession(ctx context.Context, userID, sid string) {
	if err := s.client.SRem(ctx, s.userSessionsKey(userID), sid).Err(); err != nil {
		s.log.Warn("drop session from user index", "user", userID, "err", err)
	}
}

// GetSession returns session sid; ErrNotFound when missing or expired.
func (s *Store) GetSession(ctx context.Context, sid string) (store.Session, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("get session %q", sid)
	h, err := s.client.HGetAll(ctx, s.sessionKey(sid)).Result()
	if err != nil {
		return store.Session{}, classify(op, err)
	}
	se, err := decodeSession(h)
	if err != nil {
		return store.Session{}, fmt.Errorf("%s: %w", op, err)
	}
	return se, nil
}

// DeleteSession removes the session and its spent hashes; a missing one is
// no error.
func (s *Store) DeleteSession(ctx context.Context, sid string) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("delete session %q", sid)
	var owner *redis.StringCmd
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		owner = p.HGet(ctx, s.sessionKey(sid), fieldUserID)
		p.Del(ctx, s.sessionKey(sid), s.spentKey(sid), s.nextKey(sid), s.reusedKey(sid))
		return nil
	})
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return classify(op, err)
	}
	return classify(op, s.client.SRem(ctx, s.userSessionsKey(owner.Val()), sid).Err())
}

// UserSessions lists the IDs of the user's sessions that still exist, and
// drops the others from the index.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]string, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("list sessions of user %q", userID)
	ids, err := s.client.SMembers(ctx, s.userSessionsKey(userID)).Result()
	if err != nil || len(ids) == 0 {
		return nil, classify(op, err)
	}
	exists := make([]*redis.IntCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, sid := range ids {
			exists[i] = p.Exists(ctx, s.sessionKey(sid))
		}
		return nil
	})
	if err != nil {
		return nil, classify(op, err)
	}
	var live []string
	var gone []any
	for i, sid := range ids {
		if exists[i].Val() == 1 {
			live = append(live, sid)
		} else {
			gone = append(gone, sid)
		}
	}
	if len(gone) > 0 {
		if err := s.client.SRem(ctx, s.userSessionsKey(userID), gone...).Err(); err != nil {
			s.log.Warn("drop ended sessions from user index", "user", userID, "err", err)
		}
	}
	return live, nil
}

// millis formats t as Unix milliseconds for a script.
func millis(t time.Time) string {
	return strconv.FormatInt(t.UnixMilli(), 10)
}
