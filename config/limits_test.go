package config

import (
	"strings"
	"testing"
)

// Each of these configs used to pass check and serve; each is refused
// now, with the YAML path of the field and its line.
func TestSuspiciousValuesAreRefusedWithTheirPath(t *testing.T) {
	const base = "upstreams: {default: \"http://127.0.0.1:9000\"}\n"
	const redis = "tokens: {keys: [{kid: k, alg: HS256, secret: 0123456789abcdef0123456789abcdef}]}\nstore:\n  type: redis\n  redis:\n    url: "
	for _, tc := range []struct {
		name, src, path, msg string
	}{
		{"hostless redis URL", redis + "\"redis://\"\n", "store.redis.url", "no host"},
		{"redis URL of colons", redis + "\"redis://:::\"\n", "store.redis.url", "no host"},
		{"redis URL with only a port", redis + "\"redis://:6379\"\n", "store.redis.url", "no host"},
		{"redis URL with only a password", redis + "\"redis://:pw@\"\n", "store.redis.url", "no host"},
		{"redis URL on the unspecified address", redis + "\"redis://0.0.0.0:6379\"\n", "store.redis.url", "not an address to connect to"},
		{"redis URL with port 0", redis + "\"redis://cache:0\"\n", "store.redis.url", "bad port"},
		{"redis URL with port out of range", redis + "\"redis://cache:70000\"\n", "store.redis.url", "bad port"},
		{"redis URL with an empty port", redis + "\"redis://cache:\"\n", "store.redis.url", "bad host:port"},
		{"lockout_failures below -1", "rate_limits: {lockout_failures: -2}\n", "rate_limits.lockout_failures", "must be -1 (lockout off) or a positive"},
		{"lockout_failures 0", "rate_limits: {lockout_failures: 0}\n", "rate_limits.lockout_failures", "would silently become the default 10"},
		{"negative read timeout", "server: {read_timeout: -1s}\n", "server.read_timeout", "must be positive"},
		{"zero read timeout", "server: {read_timeout: 0s}\n", "server.read_timeout", "would silently become the default 10s"},
		{"zero leeway", "tokens: {leeway: 0}\n", "tokens.leeway", "would silently become the default 30s"},
		{"zero body limit", "server: {body_limit: 0}\n", "server.body_limit", "would silently become the default 1048576"},
		{"empty upstream from the environment", "upstreams: {default: \"${EMPTY}\"}\n", "upstreams.default", `would silently become the default "http://127.0.0.1:9000"`},
		{"empty listen", "listen: \"\"\n", "listen", `would silently become the default ":8080"`},
		{"zero argon2 memory", "passwords: {memory_kib: 0}\n", "passwords.memory_kib", "would silently become the default 19456"},
		{"read timeout of a year", "server: {read_timeout: 8760h}\n", "server.read_timeout", "at most 1h"},
		{"idle timeout of weeks", "server: {idle_timeout: 500h}\n", "server.idle_timeout", "at most 24h"},
		{"dial timeout of an hour", "upstreams: {dial_timeout: 1h}\n", "upstreams.dial_timeout", "at most 5m"},
		{"redis call timeout of an hour", redis + "\"redis://cache:6379\"\n    timeout: 1h\n", "store.redis.timeout", "at most 1m"},
		{"access tokens for a month", "tokens: {access_ttl: 720h}\n", "tokens.access_ttl", "at most 24h"},
		{"leeway of an hour", "tokens: {leeway: 1h}\n", "tokens.leeway", "at most 5m"},
		{"reset links for a week", "one_time_tokens: {reset_ttl: 168h}\n", "one_time_tokens.reset_ttl", "at most 24h"},
		{"lockout for a month", "rate_limits: {lockout_duration: 720h}\n", "rate_limits.lockout_duration", "at most 168h"},
		{"shutdown of a day", "server: {shutdown_timeout: 24h}\n", "server.shutdown_timeout", "at most 1h"},
		{"smtp timeout of an hour", "mail: {driver: smtp, smtp: {host: mx, timeout: 1h}}\n", "mail.smtp.timeout", "at most 10m"},
		{"body limit of 1 GiB", "server: {body_limit: 1073741824}\n", "server.body_limit", "at most 67108864"},
		{"passwords of a megabyte", "passwords: {max_length: 1000000}\n", "passwords.max_length", "at most 1024"},
		{"thousands of hashes at once", "passwords: {max_concurrent: 5000}\n", "passwords.max_concurrent", "at most 256"},
		{"negative hash concurrency", "passwords: {max_concurrent: -1}\n", "passwords.max_concurrent", "must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			if !strings.HasPrefix(src, "upstreams:") {
				src = base + src
			}
			_, ps := loadProblems(t, src, map[string]string{"EMPTY": ""})
			p, ok := findProblem(ps, tc.path, tc.msg)
			if !ok {
				t.Fatalf("want %s: %q, got %v", tc.path, tc.msg, ps)
			}
			if p.Warning {
				t.Errorf("%v is only a warning", p)
			}
			if p.Line == 0 {
				t.Errorf("%v has no line", p)
			}
			if strings.Contains(p.Msg, "pw") {
				t.Errorf("the message shows the password: %v", p)
			}
		})
	}
}

// Values that look like the refused ones but mean something stay valid.
func TestSensibleValuesNearTheLimitsLoad(t *testing.T) {
	const base = "upstreams: {default: \"http://127.0.0.1:9000\"}\n"
	for _, src := range []string{
		"rate_limits: {lockout_failures: -1}\n",
		"rate_limits: {lockout_failures: 1}\n",
		"server: {read_timeout: 1h, write_timeout: 1h, idle_timeout: 24h, shutdown_timeout: 1h}\n",
		"tokens: {access_ttl: 24h, leeway: 5m}\n",
		"store: {redis: {db: 0}}\n", // 0 is the default too: nothing replaced
		"passwords: {max_length: 1024}\n",
		"tokens: {keys: [{kid: k, alg: HS256, secret: 0123456789abcdef0123456789abcdef}]}\nstore: {type: redis, redis: {url: \"redis://[::1]:6379/2\"}}\n",
		"tokens: {keys: [{kid: k, alg: HS256, secret: 0123456789abcdef0123456789abcdef}]}\nstore: {type: redis, redis: {url: \"unix:///run/redis.sock\"}}\n",
		"server: {fast_path: false}\n", // false is a value, not a zero to replace
	} {
		if _, ps := loadProblems(t, base+src, nil); ps.HasErrors() {
			t.Errorf("%q: %v", src, ps)
		}
	}
}
