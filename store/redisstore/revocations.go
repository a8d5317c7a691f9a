package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/store"
)

// revokeScript: KEYS revoked zset; ARGV session ID, until (Unix ms), now
// (Unix ms), channel. It keeps the later of the old and new until, drops
// expired members, makes the set expire with its last member and publishes
// the revocation, all at once, so a revocation is never recorded without
// being announced or the other way round.
var revokeScript = redis.NewScript(`
local untilMs = tonumber(ARGV[2])
local cur = redis.call('ZSCORE', KEYS[1], ARGV[1])
if cur and tonumber(cur) > untilMs then
  untilMs = tonumber(cur)
else
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', tonumber(last[2])))
end
redis.call('PUBLISH', ARGV[4], 'v1 ' .. string.format('%d', untilMs) .. ' ' .. ARGV[1])
return 1
`)

// RevokeSession records that sid is revoked until `until` (never shortening
// an existing revocation; kept at millisecond precision) and publishes it
// to every instance.
func (s *Store) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	err := revokeScript.Run(ctx, s.client, []string{s.revokedKey()},
		sid, until.UnixMilli(), time.Now().UnixMilli(), s.revocationsChannel()).Err()
	return classify(fmt.Sprintf("revoke session %q", sid), err)
}

// RevokedSessions returns the revocations that have not expired.
func (s *Store) RevokedSessions(ctx context.Context) (map[string]time.Time, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	zs, err := s.client.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{
		Key: s.revokedKey(), Start: "(" + millis(time.Now()), Stop: "+inf", ByScore: true,
	}).Result()
	if err != nil {
		return nil, classify("list revoked sessions", err)
	}
	out := make(map[string]time.Time, len(zs))
	for _, z := range zs {
		sid, _ := z.Member.(string)
		out[sid] = time.UnixMilli(int64(z.Score))
	}
	return out, nil
}

// decodeRevocation parses a message of the revocations channel:
// "v1 <until in Unix ms> <session ID>".
func decodeRevocation(payload string) (string, time.Time, error) {
	version, rest, ok := strings.Cut(payload, " ")
	if !ok || version != "v1" {
		return "", time.Time{}, fmt.Errorf("revocation message %.40q: unknown format", payload)
	}
	ms, sid, ok := strings.Cut(rest, " ")
	if !ok || sid == "" {
		return "", time.Time{}, fmt.Errorf("revocation message %.40q: no session id", payload)
	}
	until, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("revocation message %.40q: until: %w", payload, err)
	}
	return sid, time.UnixMilli(until), nil
}

// WatchRevocations subscribes to the revocations channel and calls fn for
// each revocation published. reconnect is called whenever the subscription
// is (re)established (go-redis resubscribes on its own after a broken
// connection; the subscription confirmation tells us) and when a message
// could not be read, since a revocation may then have been missed. It
// returns nil when ctx ends, or ErrUnavailable when the store is closed.
func (s *Store) WatchRevocations(ctx context.Context, fn func(sid string, until time.Time), reconnect func()) error {
	const op = "watch revocations"
	ps := s.client.Subscribe(ctx, s.revocationsChannel())
	defer ps.Close()
	msgs := ps.ChannelWithSubscriptions(
		redis.WithChannelSize(1024),
		redis.WithChannelHealthCheckInterval(s.healthCheck),
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return fmt.Errorf("%s: store closed: %w", op, store.ErrUnavailable)
		case m, ok := <-msgs:
			if !ok {
				return fmt.Errorf("%s: subscription closed: %w", op, store.ErrUnavailable)
			}
			switch m := m.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					reconnect()
				}
			case *redis.Message:
				sid, until, err := decodeRevocation(m.Payload)
				if err != nil {
					s.log.Warn("unreadable revocation, resyncing", "err", err)
					reconnect()
					continue
				}
				fn(sid, until)
			}
		}
	}
}
