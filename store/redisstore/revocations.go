package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/store"
)

// The revocation state lives in the slot of "{r}" so that one script can
// record a revocation, number it and announce it (see package lease for
// what the numbers are for):
//
//	P{r}:revoked  zset    session ID scored by until (Unix ms)
//	P{r}:seq      string  number of the last revocation
//	P{r}:epoch    string  random; created when missing, so a Redis that lost
//	                      its data (FLUSHALL, restart without persistence)
//	                      gets a new one, which every instance notices
//	P{r}:members  hash    instance ID -> renewal counter
//	P{r}:acked    hash    instance ID -> revocation number applied through
//
// Revocation numbers are max(previous + 1, Redis TIME in µs): after a
// Redis lost acknowledged writes (failover, restart from an older
// snapshot) the numbers still grow, so an acknowledgement from before the
// loss cannot pass for one of a revocation made after it.

// ensureEpoch is the Lua prologue of every revocation script: KEYS[1] is the
// epoch key, ARGV[1] a fresh epoch used when it is missing.
const ensureEpoch = `
local ep = redis.call('GET', KEYS[1])
if not ep then
  ep = ARGV[1]
  redis.call('SET', KEYS[1], ep)
end
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nowMs = math.floor(nowUs / 1000)
`

// revokeScript: KEYS epoch, seq, revoked zset; ARGV fresh epoch, session
// ID, until (Unix ms), channel. It keeps the later of the old and new until,
// drops expired members, makes the set expire with its last member, numbers
// the revocation and publishes it, all at once, so a revocation is never
// recorded without being announced or the other way round. It returns the
// revocation's number.
var revokeScript = redis.NewScript(ensureEpoch + `
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local seq = math.max(prev + 1, nowUs)
redis.call('SET', KEYS[2], string.format('%d', seq))
local untilMs = tonumber(ARGV[3])
local cur = redis.call('ZSCORE', KEYS[3], ARGV[2])
if cur and tonumber(cur) > untilMs then
  untilMs = tonumber(cur)
else
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', nowMs)
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
if last[2] then
  redis.call('PEXPIREAT', KEYS[3], string.format('%d', tonumber(last[2])))
end
redis.call('PUBLISH', ARGV[4], 'v2 ' .. ep .. ' ' .. string.format('%d', prev) .. ' ' ..
  string.format('%d', seq) .. ' ' .. string.format('%d', untilMs) .. ' ' .. ARGV[2])
return string.format('%d', seq)
`)

// snapshotScript: KEYS epoch, seq, revoked zset; ARGV fresh epoch. Returns
// {epoch, seq, member, until, member, until, ...}: every revocation in force
// and the number of the last one, read at one instant.
var snapshotScript = redis.NewScript(ensureEpoch + `
local seq = redis.call('GET', KEYS[2]) or '0'
local out = {ep, seq}
local zs = redis.call('ZRANGE', KEYS[3], '(' .. string.format('%d', nowMs), '+inf', 'BYSCORE', 'WITHSCORES')
for i = 1, #zs do out[#out + 1] = zs[i] end
return out
`)

// renewScript: KEYS epoch, seq, members, acked; ARGV fresh epoch, instance
// ID, applied through, epoch the instance knows. It counts the renewal and
// records the acknowledgement when the instance is on the current epoch and
// not ahead of the store (ahead: the store lost revocations the instance
// saw). Returns {status, epoch, seq} with status ok, epoch or ahead.
var renewScript = redis.NewScript(ensureEpoch + `
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local applied = tonumber(ARGV[3])
local status = 'ok'
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
if ep ~= ARGV[4] then
  status = 'epoch'
  redis.call('HDEL', KEYS[4], ARGV[2])
elseif applied > seq then
  status = 'ahead'
  redis.call('HDEL', KEYS[4], ARGV[2])
else
  redis.call('HSET', KEYS[4], ARGV[2], string.format('%d', applied))
end
return {status, ep, string.format('%d', seq)}
`)

// pendingScript: KEYS members, acked; ARGV revocation number. Returns {id,
// renewal counter, ...} of the members that have not acknowledged it.
var pendingScript = redis.NewScript(`
local n = tonumber(ARGV[1])
local out = {}
local ms = redis.call('HGETALL', KEYS[1])
for i = 1, #ms, 2 do
  local a = redis.call('HGET', KEYS[2], ms[i])
  if not a or tonumber(a) < n then
    out[#out + 1] = ms[i]
    out[#out + 1] = ms[i + 1]
  end
end
return out
`)

// evictScript: KEYS members, acked; ARGV instance ID, renewal counter. It
// forgets the instance when it has not renewed since the counter was read.
var evictScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
`)

// newEpoch returns a random epoch, used only when the store has none.
func newEpoch() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Store) revKeys() []string {
	return []string{s.epochKey(), s.seqKey(), s.revokedKey()}
}

// RevokeSession records that sid is revoked until `until` (never shortening
// an existing revocation; kept at millisecond precision) and publishes it
// to every instance.
func (s *Store) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	_, err := s.Revoke(ctx, sid, until)
	return err
}

// Revoke is RevokeSession that also returns the revocation's number.
// go-redis may retry it after a network error: the revocation is then
// recorded and announced twice, which changes nothing, and the number is
// that of the last run.
func (s *Store) Revoke(ctx context.Context, sid string, until time.Time) (uint64, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	v, err := revokeScript.Run(ctx, s.client, s.revKeys(),
		newEpoch(), sid, until.UnixMilli(), s.revocationsChannel()).Text()
	if err != nil {
		return 0, classify(fmt.Sprintf("revoke session %q", sid), err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("revoke session %q: number %q: %w", sid, v, err)
	}
	return n, nil
}

// RevokedSessions returns the revocations that have not expired.
func (s *Store) RevokedSessions(ctx context.Context) (map[string]time.Time, error) {
	m, _, _, err := s.Snapshot(ctx)
	return m, err
}

// Snapshot returns the revocations in force, the number of the last
// revocation and the epoch, all read at once.
func (s *Store) Snapshot(ctx context.Context) (map[string]time.Time, uint64, string, error) {
	const op = "list revoked sessions"
	ctx, cancel := s.call(ctx)
	defer cancel()
	vs, err := snapshotScript.Run(ctx, s.client, s.revKeys(), newEpoch()).StringSlice()
	if err != nil {
		return nil, 0, "", classify(op, err)
	}
	if len(vs) < 2 || len(vs)%2 != 0 {
		return nil, 0, "", fmt.Errorf("%s: %d values", op, len(vs))
	}
	seq, err := strconv.ParseUint(vs[1], 10, 64)
	if err != nil {
		return nil, 0, "", fmt.Errorf("%s: number %q: %w", op, vs[1], err)
	}
	out := make(map[string]time.Time, len(vs)/2-1)
	for i := 2; i < len(vs); i += 2 {
		ms, err := strconv.ParseInt(vs[i+1], 10, 64)
		if err != nil {
			return nil, 0, "", fmt.Errorf("%s: until %q: %w", op, vs[i+1], err)
		}
		out[vs[i]] = time.UnixMilli(ms)
	}
	return out, seq, vs[0], nil
}

// Renewal is the answer to Renew.
type Renewal struct {
	// Epoch and Seq are the store's epoch and last revocation number.
	Epoch string
	Seq   uint64
	// Acked: the acknowledgement was recorded. It is not when the instance
	// named another epoch or a number beyond Seq (the store lost
	// revocations): it must load a snapshot first.
	Acked bool
}

// Renew counts a lease renewal of instance id and records that it has
// applied every revocation through applied in epoch.
func (s *Store) Renew(ctx context.Context, id string, applied uint64, epoch string) (Renewal, error) {
	const op = "renew lease"
	ctx, cancel := s.call(ctx)
	defer cancel()
	vs, err := renewScript.Run(ctx, s.client,
		[]string{s.epochKey(), s.seqKey(), s.membersKey(), s.ackedKey()},
		newEpoch(), id, strconv.FormatUint(applied, 10), epoch).StringSlice()
	if err != nil {
		return Renewal{}, classify(op, err)
	}
	if len(vs) != 3 {
		return Renewal{}, fmt.Errorf("%s: %d values", op, len(vs))
	}
	seq, err := strconv.ParseUint(vs[2], 10, 64)
	if err != nil {
		return Renewal{}, fmt.Errorf("%s: number %q: %w", op, vs[2], err)
	}
	return Renewal{Epoch: vs[1], Seq: seq, Acked: vs[0] == "ok"}, nil
}

// Pending returns the instances (ID to renewal counter) that have not
// acknowledged revocation n.
func (s *Store) Pending(ctx context.Context, n uint64) (map[string]string, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	vs, err := pendingScript.Run(ctx, s.client, []string{s.membersKey(), s.ackedKey()},
		strconv.FormatUint(n, 10)).StringSlice()
	if err != nil {
		return nil, classify("pending acknowledgements", err)
	}
	out := make(map[string]string, len(vs)/2)
	for i := 0; i+1 < len(vs); i += 2 {
		out[vs[i]] = vs[i+1]
	}
	return out, nil
}

// Evict forgets instance id if its renewal counter is still counter.
func (s *Store) Evict(ctx context.Context, id, counter string) error {
	ctx, cancel := s.call(ctx)
	defer cancel()
	err := evictScript.Run(ctx, s.client, []string{s.membersKey(), s.ackedKey()}, id, counter).Err()
	return classify("evict instance", err)
}

// Announcement is one message of the revocations channel.
type Announcement struct {
	Epoch     string
	Prev, Seq uint64 // the number of the revocation before this one, and its own
	SessionID string
	Until     time.Time
}

// decodeRevocation parses a message of the revocations channel:
// "v2 <epoch> <previous number> <number> <until in Unix ms> <session ID>".
func decodeRevocation(payload string) (Announcement, error) {
	var a Announcement
	fields := strings.SplitN(payload, " ", 6)
	if len(fields) != 6 || fields[0] != "v2" {
		return a, fmt.Errorf("revocation message %.40q: unknown format", payload)
	}
	if fields[1] == "" || fields[5] == "" {
		return a, fmt.Errorf("revocation message %.40q: no epoch or session id", payload)
	}
	var err error
	if a.Prev, err = strconv.ParseUint(fields[2], 10, 64); err != nil {
		return a, fmt.Errorf("revocation message %.40q: previous number: %w", payload, err)
	}
	if a.Seq, err = strconv.ParseUint(fields[3], 10, 64); err != nil {
		return a, fmt.Errorf("revocation message %.40q: number: %w", payload, err)
	}
	until, err := strconv.ParseInt(fields[4], 10, 64)
	if err != nil {
		return a, fmt.Errorf("revocation message %.40q: until: %w", payload, err)
	}
	a.Epoch, a.SessionID, a.Until = fields[1], fields[5], time.UnixMilli(until)
	return a, nil
}

// WatchRevocations subscribes to the revocations channel and calls fn for
// each revocation published. reconnect is called whenever the subscription
// is (re)established (go-redis resubscribes on its own after a broken
// connection; the subscription confirmation tells us) and when a message
// could not be read, since a revocation may then have been missed. It
// returns nil when ctx ends, or ErrUnavailable when the store is closed.
func (s *Store) WatchRevocations(ctx context.Context, fn func(sid string, until time.Time), reconnect func()) error {
	return s.Watch(ctx, func(a Announcement) { fn(a.SessionID, a.Until) }, reconnect)
}

// Watch is WatchRevocations with the revocations' numbers and epoch.
func (s *Store) Watch(ctx context.Context, fn func(Announcement), reconnect func()) error {
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
				a, err := decodeRevocation(m.Payload)
				if err != nil {
					s.log.Warn("unreadable revocation, resyncing", "err", err)
					reconnect()
					continue
				}
				fn(a)
			}
		}
	}
}
