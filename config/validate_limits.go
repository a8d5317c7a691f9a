package config

import (
	"fmt"
	"time"
)

// durationMaxima bound the durations whose absurd values would not be
// refused by their own checks: a timeout of years is a typo (or an
// attempt to turn a protection off), and an hour-long read timeout lets a
// few slow clients hold every connection. Each bound is well above any
// value a deployment has a reason for.
var durationMaxima = []struct {
	path string
	get  func(*Config) time.Duration
	max  time.Duration
}{
	{"server.read_timeout", func(c *Config) time.Duration { return c.Server.ReadTimeout }, time.Hour},
	{"server.write_timeout", func(c *Config) time.Duration { return c.Server.WriteTimeout }, time.Hour},
	{"server.idle_timeout", func(c *Config) time.Duration { return c.Server.IdleTimeout }, 24 * time.Hour},
	{"server.shutdown_timeout", func(c *Config) time.Duration { return c.Server.ShutdownTimeout }, time.Hour},
	{"upstreams.dial_timeout", func(c *Config) time.Duration { return c.Upstreams.DialTimeout }, 5 * time.Minute},
	{"upstreams.response_timeout", func(c *Config) time.Duration { return c.Upstreams.ResponseTimeout }, 24 * time.Hour},
	{"store.redis.timeout", func(c *Config) time.Duration { return c.Store.Redis.Timeout }, time.Minute},
	{"tokens.access_ttl", func(c *Config) time.Duration { return c.Tokens.AccessTTL }, 24 * time.Hour},
	{"tokens.refresh_ttl", func(c *Config) time.Duration { return c.Tokens.RefreshTTL }, 366 * 24 * time.Hour},
	{"tokens.session_lifetime", func(c *Config) time.Duration { return c.Tokens.SessionLifetime }, 366 * 24 * time.Hour},
	{"tokens.leeway", func(c *Config) time.Duration { return c.Tokens.Leeway }, 5 * time.Minute},
	{"rate_limits.lockout_window", func(c *Config) time.Duration { return c.RateLimits.LockoutWindow }, 7 * 24 * time.Hour},
	{"rate_limits.lockout_duration", func(c *Config) time.Duration { return c.RateLimits.LockoutDuration }, 7 * 24 * time.Hour},
	{"mail.smtp.timeout", func(c *Config) time.Duration { return c.Mail.SMTP.Timeout }, 10 * time.Minute},
	{"one_time_tokens.verify_ttl", func(c *Config) time.Duration { return c.OneTimeTokens.VerifyTTL }, 30 * 24 * time.Hour},
	{"one_time_tokens.reset_ttl", func(c *Config) time.Duration { return c.OneTimeTokens.ResetTTL }, 24 * time.Hour},
}

// intMaxima bound the counts and sizes the same way.
var intMaxima = []struct {
	path string
	get  func(*Config) int
	max  int
}{
	{"server.body_limit", func(c *Config) int { return c.Server.BodyLimit }, 64 << 20},
	{"upstreams.max_conns_per_host", func(c *Config) int { return c.Upstreams.MaxConnsPerHost }, 1 << 20},
	{"tokens.cache_size", func(c *Config) int { return c.Tokens.CacheSize }, 100_000_000},
	{"passwords.max_length", func(c *Config) int { return c.Passwords.MaxLength }, 1024},
	// Each slot may hold about 2 × memory_kib resident (docs/security.md).
	{"passwords.max_concurrent", func(c *Config) int { return c.Passwords.MaxConcurrent }, 256},
	{"rate_limits.lockout_failures", func(c *Config) int { return c.RateLimits.LockoutFailures }, 1_000_000},
}

// validateLimits refuses values beyond the maxima above.
func validateLimits(v *problemList, c *Config) {
	for _, m := range durationMaxima {
		if d := m.get(c); d > m.max {
			v.add(m.path, fmt.Sprintf("%s is beyond any sensible value: at most %s", d, fmtDuration(m.max)))
		}
	}
	for _, m := range intMaxima {
		if n := m.get(c); n > m.max {
			v.add(m.path, fmt.Sprintf("%d is beyond any sensible value: at most %d", n, m.max))
		}
	}
}

// fmtDuration prints whole hours as hours ("720h", not "720h0m0s").
func fmtDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
