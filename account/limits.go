package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ulule/limiter/v3"
	memlimit "github.com/ulule/limiter/v3/drivers/store/memory"

	"authgate/audit"
	"authgate/config"
	"authgate/store"
)

// RateLimit is one named ulule/limiter limit; a nil *RateLimit never limits.
type RateLimit struct {
	name string
	l    *limiter.Limiter
}

func newRateLimit(st limiter.Store, name, spec string) (*RateLimit, error) {
	if spec == "" || spec == config.RateOff {
		return nil, nil
	}
	rate, err := limiter.NewRateFromFormatted(spec)
	if err != nil {
		return nil, fmt.Errorf("rate_limits.%s: %w", name, err)
	}
	return &RateLimit{name: name, l: limiter.New(st, rate)}, nil
}

func (s *Service) buildLimits(st limiter.Store) error {
	if st == nil {
		st = memlimit.NewStoreWithOptions(limiter.StoreOptions{Prefix: "authgate", CleanUpInterval: time.Minute})
	}
	rl := s.cfg.RateLimits
	var err error
	for _, l := range []struct {
		dst        **RateLimit
		name, spec string
	}{
		{&s.loginIP, "login_per_ip", rl.LoginPerIP},
		{&s.loginUser, "login_per_username", rl.LoginPerUsername},
		{&s.refreshIP, "refresh_per_ip", rl.RefreshPerIP},
		{&s.mailIP, "mail_per_ip", rl.MailPerIP},
		{&s.mailEmail, "mail_per_email", rl.MailPerEmail},
		{&s.sfUser, "second_factor_per_user", rl.SecondFactorPerUser},
	} {
		if *l.dst, err = newRateLimit(st, l.name, l.spec); err != nil {
			return err
		}
	}
	s.lock = newLockout(st, rl)
	return nil
}

// take counts one attempt for key and refuses (KindRateLimited) once the
// limit is passed.
func (s *Service) take(ctx context.Context, r *RateLimit, cl Client, key string) error {
	if r == nil {
		return nil
	}
	lc, err := r.l.Get(ctx, r.name+":"+key)
	if err != nil {
		return fmt.Errorf("rate limit %s: %w", r.name, unavailable(err))
	}
	cl.counted(lc)
	if lc.Reached {
		s.obs.RateLimited(r.name)
		ev := audit.Event{Event: audit.RateLimited, Outcome: "refused", Reason: r.name}
		if r.name == "login_per_username" || r.name == "second_factor_per_user" {
			ev.User = key
		}
		s.audit.Log(ctx, ev)
		return &Error{Kind: KindRateLimited, Detail: "too many attempts; retry later", RetryAfter: retryAfter(lc, s.now())}
	}
	return nil
}

func retryAfter(lc limiter.Context, now time.Time) int {
	return max(int(lc.Reset-now.Unix()), 1)
}

// unavailable marks err as a store/limiter outage (answered with 503).
func unavailable(err error) error {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.Canceled) {
		return err
	}
	return errors.Join(store.ErrUnavailable, err)
}

// Lockout locks a username after repeated failed logins: failures counts
// them within the window; lock is set for the lockout duration once
// failures reach the configured number.
type Lockout struct {
	failures *limiter.Limiter
	lock     *limiter.Limiter
}

func newLockout(st limiter.Store, cfg config.RateLimits) *Lockout {
	if cfg.LockoutFailures <= 0 {
		return nil
	}
	return &Lockout{
		// Reached is "count > Limit": the Nth failure reaches it.
		failures: limiter.New(st, limiter.Rate{Period: cfg.LockoutWindow, Limit: int64(cfg.LockoutFailures - 1)}),
		lock:     limiter.New(st, limiter.Rate{Period: cfg.LockoutDuration, Limit: 0}),
	}
}

// check refuses a locked username.
func (l *Lockout) check(ctx context.Context, user string, now time.Time) (*Error, error) {
	if l == nil {
		return nil, nil
	}
	lc, err := l.lock.Peek(ctx, "lock:"+user)
	if err != nil {
		return nil, fmt.Errorf("lockout: %w", unavailable(err))
	}
	if lc.Reached {
		return &Error{Kind: KindLocked, Detail: "too many failed logins for this account; retry later", RetryAfter: retryAfter(lc, now)}, nil
	}
	return nil, nil
}

// failed records a failed login; the failure that reaches the limit locks
// (locked is true then).
func (l *Lockout) failed(ctx context.Context, user string) (locked bool, err error) {
	if l == nil {
		return false, nil
	}
	lc, err := l.failures.Get(ctx, "fail:"+user)
	if err != nil {
		return false, fmt.Errorf("lockout: %w", unavailable(err))
	}
	if lc.Reached {
		if _, err := l.lock.Get(ctx, "lock:"+user); err != nil {
			return false, fmt.Errorf("lockout: %w", unavailable(err))
		}
		if _, err := l.failures.Reset(ctx, "fail:"+user); err != nil {
			return false, fmt.Errorf("lockout: %w", unavailable(err))
		}
		return true, nil
	}
	return false, nil
}

// succeeded forgets earlier failures.
func (l *Lockout) succeeded(ctx context.Context, user string) error {
	if l == nil {
		return nil
	}
	if _, err := l.failures.Reset(ctx, "fail:"+user); err != nil {
		return fmt.Errorf("lockout: %w", unavailable(err))
	}
	return nil
}
