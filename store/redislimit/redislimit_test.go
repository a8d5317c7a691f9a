package redislimit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"

	"authgate/store/redistest"
)

// open returns a store on a private Redis, through a fault proxy.
func open(t *testing.T) (*Store, *redistest.FaultProxy) {
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	c := redis.NewClient(&redis.Options{Addr: strings.TrimPrefix(px.URL(), "redis://")})
	t.Cleanup(func() { _ = c.Close() })
	return New(c, "authgate:ratelimit"), px
}

func TestCountsWithinAWindowReachTheLimitAndResetForgets(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	rate := limiter.Rate{Period: time.Minute, Limit: 2}
	for i, want := range []struct {
		remaining int64
		reached   bool
	}{{1, false}, {0, false}, {0, true}} {
		lc, err := s.Get(ctx, "k", rate)
		if err != nil || lc.Remaining != want.remaining || lc.Reached != want.reached {
			t.Fatalf("attempt %d: %+v, %v; want remaining %d, reached %v", i+1, lc, err, want.remaining, want.reached)
		}
		if left := time.Until(time.Unix(lc.Reset, 0)); left > time.Minute+time.Second || left < 50*time.Second {
			t.Fatalf("attempt %d: window ends in %v, want about a minute", i+1, left)
		}
	}
	if lc, err := s.Peek(ctx, "k", rate); err != nil || !lc.Reached {
		t.Fatalf("Peek after the limit: %+v, %v", lc, err)
	}
	if lc, err := s.Peek(ctx, "other", rate); err != nil || lc.Reached || lc.Remaining != 2 {
		t.Fatalf("Peek of an unknown key: %+v, %v", lc, err)
	}
	for range 2 {
		if _, err := s.Reset(ctx, "k", rate); err != nil {
			t.Fatal(err)
		}
	}
	if lc, err := s.Get(ctx, "k", rate); err != nil || lc.Remaining != 1 {
		t.Fatalf("after Reset: %+v, %v", lc, err)
	}
}

func TestAWindowEnds(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	rate := limiter.Rate{Period: 500 * time.Millisecond, Limit: 1}
	for range 2 {
		if _, err := s.Get(ctx, "k", rate); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(600 * time.Millisecond)
	if lc, err := s.Get(ctx, "k", rate); err != nil || lc.Reached {
		t.Fatalf("first attempt of a new window: %+v, %v", lc, err)
	}
}

// TestALostReplyCountsTheAttemptOnce: the proxy loses the reply of the
// counting script after Redis ran it; go-redis sends it again. One attempt
// must count once (ulule's INCRBY script counts it twice).
func TestALostReplyCountsTheAttemptOnce(t *testing.T) {
	s, px := open(t)
	ctx := context.Background()
	rate := limiter.Rate{Period: time.Minute, Limit: 10}
	for i := range 3 {
		px.LoseReplies(1, nil, "eval", "ratelimit:fail:alice")
		lc, err := s.Get(ctx, "fail:alice", rate)
		if err != nil {
			t.Fatal(err)
		}
		if px.Lost() != i+1 {
			t.Fatal("the fault was not injected")
		}
		if lc.Remaining != rate.Limit-int64(i+1) {
			t.Fatalf("after %d attempts with lost replies: %d remaining, want %d", i+1, lc.Remaining, rate.Limit-int64(i+1))
		}
	}
	if lc, _ := s.Peek(ctx, "fail:alice", rate); lc.Remaining != rate.Limit-3 {
		t.Fatalf("Peek: %d remaining, want %d", lc.Remaining, rate.Limit-3)
	}
}
