package gateway

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ulule/limiter/v3"

	"authgate/config"
)

// rateLimit is one named ulule/limiter limit; a nil *rateLimit never limits.
type rateLimit struct {
	name string
	l    *limiter.Limiter
}

func newRateLimit(st limiter.Store, name, spec string) (*rateLimit, error) {
	if spec == "" {
		return nil, nil
	}
	rate, err := limiter.NewRateFromFormatted(spec)
	if err != nil {
		return nil, fmt.Errorf("rate_limits.%s: %w", name, err)
	}
	return &rateLimit{name: name, l: limiter.New(st, rate)}, nil
}

// take counts one attempt for key and returns a 429 problem once the limit
// is passed. It sets RateLimit-* headers when c is not nil.
func (r *rateLimit) take(ctx context.Context, c *fiber.Ctx, key string, now time.Time) (*Problem, error) {
	if r == nil {
		return nil, nil
	}
	lc, err := r.l.Get(ctx, r.name+":"+key)
	if err != nil {
		return nil, fmt.Errorf("rate limit %s: %w", r.name, unavailable(err))
	}
	if c != nil {
		setRateHeaders(c, lc, now)
	}
	if lc.Reached {
		return tooMany(ProblemRateLimited, "too many attempts; retry later", lc, now), nil
	}
	return nil, nil
}

func setRateHeaders(c *fiber.Ctx, lc limiter.Context, now time.Time) {
	c.Set("RateLimit-Limit", strconv.FormatInt(lc.Limit, 10))
	c.Set("RateLimit-Remaining", strconv.FormatInt(lc.Remaining, 10))
	c.Set("RateLimit-Reset", strconv.Itoa(retryAfter(lc, now)))
}

func retryAfter(lc limiter.Context, now time.Time) int {
	s := int(lc.Reset - now.Unix())
	if s < 1 {
		s = 1
	}
	return s
}

func tooMany(t ProblemType, detail string, lc limiter.Context, now time.Time) *Problem {
	return &Problem{Type: t, Detail: detail, RetryAfter: retryAfter(lc, now)}
}

// lockout locks a username after repeated failed logins: failures counts
// them within the window; lock is set for the lockout duration once
// failures reach the configured number.
type lockout struct {
	failures *limiter.Limiter
	lock     *limiter.Limiter
}

func newLockout(st limiter.Store, cfg config.RateLimits) *lockout {
	if cfg.LockoutFailures <= 0 {
		return nil
	}
	return &lockout{
		// Reached is "count > Limit": the Nth failure reaches it.
		failures: limiter.New(st, limiter.Rate{Period: cfg.LockoutWindow, Limit: int64(cfg.LockoutFailures - 1)}),
		lock:     limiter.New(st, limiter.Rate{Period: cfg.LockoutDuration, Limit: 0}),
	}
}

// check refuses a locked username.
func (l *lockout) check(ctx context.Context, user string, now time.Time) (*Problem, error) {
	if l == nil {
		return nil, nil
	}
	lc, err := l.lock.Peek(ctx, "lock:"+user)
	if err != nil {
		return nil, fmt.Errorf("lockout: %w", unavailable(err))
	}
	if lc.Reached {
		return tooMany(ProblemLocked, "too many failed logins for this account; retry later", lc, now), nil
	}
	return nil, nil
}

// failed records a failed login; the failure that reaches the limit locks.
func (l *lockout) failed(ctx context.Context, user string) error {
	if l == nil {
		return nil
	}
	lc, err := l.failures.Get(ctx, "fail:"+user)
	if err != nil {
		return fmt.Errorf("lockout: %w", unavailable(err))
	}
	if lc.Reached {
		if _, err := l.lock.Get(ctx, "lock:"+user); err != nil {
			return fmt.Errorf("lockout: %w", unavailable(err))
		}
		if _, err := l.failures.Reset(ctx, "fail:"+user); err != nil {
			return fmt.Errorf("lockout: %w", unavailable(err))
		}
	}
	return nil
}

// succeeded forgets earlier failures.
func (l *lockout) succeeded(ctx context.Context, user string) error {
	if l == nil {
		return nil
	}
	if _, err := l.failures.Reset(ctx, "fail:"+user); err != nil {
		return fmt.Errorf("lockout: %w", unavailable(err))
	}
	return nil
}
