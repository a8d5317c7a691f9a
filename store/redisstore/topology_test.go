package redisstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"authgate/config"
	"authgate/store"
	"authgate/store/redistest"
	"authgate/store/storetest"
)

// The contract suite on a real Redis Cluster (six private nodes) and
// through Redis Sentinel (a private primary, replica and three sentinels),
// built the way authgate builds its clients (NewClient). On the cluster a
// script or transaction whose keys span two slots fails with CROSSSLOT, so
// the suite passing there is what proves every multi-key operation stays in
// one slot.

func topologyContract(t *testing.T, cfg config.Redis) {
	open := func(t *testing.T, prefix string) *Store {
		c, err := NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s := New(c, prefix)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	storetest.Run(t,
		func(t *testing.T) store.Store { return open(t, "authgate-test-"+randomHex(t, 6)+":") },
		storetest.WithSibling(func(t *testing.T, s store.Store) store.Store { return open(t, s.(*Store).prefix) }))
}

func TestContractOnRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	topologyContract(t, config.Redis{ClusterAddrs: cl.Addrs()})
	t.Run("lease scripts stay in one slot", func(t *testing.T) {
		c, _ := NewClient(config.Redis{ClusterAddrs: cl.Addrs()})
		s := New(c, "authgate-test-"+randomHex(t, 6)+":")
		defer s.Close()
		ctx := context.Background()
		n, err := s.Revoke(ctx, "sid", time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Renew(ctx, "i1", 0, ""); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := s.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Pending(ctx, n); err != nil || len(p) != 1 {
			t.Fatalf("Pending = %v, %v", p, err)
		}
		if err := s.Evict(ctx, "i1", "1"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCrossSlotIsRefusedByTheTestCluster shows the cluster tests can fail:
// a script over keys of two slots is refused.
func TestCrossSlotIsRefusedByTheTestCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	defer c.Close()
	err := redis.NewScript(`return redis.call('MGET', KEYS[1], KEYS[2])`).
		Run(context.Background(), c, []string{"authgate:{u}:a", "authgate:{r}:b"}).Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("script over two slots: %v, want CROSSSLOT", err)
	}
}

func TestContractThroughRedisSentinel(t *testing.T) {
	s := redistest.StartSentinel(t)
	topologyContract(t, config.Redis{Sentinel: config.Sentinel{Master: s.Master, Addrs: s.Addrs()}})
}

// BenchmarkRevokeWait measures what WAIT (the revocation acknowledged by
// the replica before the logout answers) would add to a revocation, on a
// private primary with one replica on loopback.
func BenchmarkRevokeWait(b *testing.B) {
	primary := redistest.Start(b)
	redistest.Start(b, "--replicaof", "127.0.0.1", fmt.Sprint(primary.Port))
	c := redis.NewClient(&redis.Options{Addr: primary.Addr()})
	s := New(c, "authgate-bench:")
	defer s.Close()
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	for _, wait := range []bool{false, true} {
		b.Run(fmt.Sprintf("wait=%v", wait), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if !wait {
					if _, err := s.Revoke(ctx, fmt.Sprint("sid", i), until); err != nil {
						b.Fatal(err)
					}
					continue
				}
				// WAIT counts the writes of its own connection: one pipeline.
				_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					revokeScript.Eval(ctx, p, s.revKeys(), newEpoch(), fmt.Sprint("sid", i), until.UnixMilli(), s.revocationsChannel())
					p.Do(ctx, "WAIT", 1, 1000)
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
