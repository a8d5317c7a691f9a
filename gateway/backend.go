package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/ulule/limiter/v3"

	"authgate/config"
	"authgate/store"
	"authgate/store/boltstore"
	"authgate/store/memstore"
	"authgate/store/redislimit"
	"authgate/store/redisstore"
)

// OpenStore opens the configured backend and, for Redis, a rate-limit store
// on the same Redis so that every instance counts the same attempts. The
// limiter store is nil for the single-instance backends (in memory).
func OpenStore(ctx context.Context, cfg *config.Config) (store.Store, limiter.Store, error) {
	switch cfg.Store.Type {
	case "redis":
		client, err := redisstore.NewClient(cfg.Store.Redis)
		if err != nil {
			return nil, nil, fmt.Errorf("store.redis: %w", err)
		}
		st := redisstore.New(client, cfg.Store.Redis.Prefix, redisstore.WithTimeout(cfg.Store.Redis.Timeout))
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := st.Ping(pctx); err != nil {
			_ = st.Close()
			return nil, nil, fmt.Errorf("store.redis: cannot reach Redis: %w", err)
		}
		// Counted once per attempt even when go-redis retries (see
		// package redislimit); "limits", not ulule's "ratelimit" strings.
		return st, redislimit.New(client, cfg.Store.Redis.Prefix+"limits"), nil
	case "memory":
		return memstore.New(), nil, nil
	default:
		st, err := boltstore.Open(cfg.Store.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("store.path: %w", err)
		}
		return st, nil, nil
	}
}
