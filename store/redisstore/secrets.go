package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// sharedSecretScript: KEYS secret; ARGV candidate. Set-if-absent, then
// the stored value: a retried call answers the same bytes.
var sharedSecretScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`)

// SharedSecret returns the secret stored under name, storing candidate
// first when there is none; see store.Secrets. The key never expires, so
// the secret lives as long as Redis keeps its data.
func (s *Store) SharedSecret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	ctx, cancel := s.call(ctx)
	defer cancel()
	op := fmt.Sprintf("shared secret %q", name)
	cur, err := sharedSecretScript.Run(ctx, s.client, []string{s.secretKey(name)}, candidate).Text()
	if err != nil {
		return nil, classify(op, err)
	}
	return []byte(cur), nil
}
