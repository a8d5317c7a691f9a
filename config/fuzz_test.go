package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to LoadBytes: it must never panic, and it
// returns either a config or Problems with at least one error.
func FuzzLoad(f *testing.F) {
	if shipped, err := os.ReadFile("../gateway.yaml"); err == nil {
		f.Add(shipped)
	}
	seeds := []string{
		"",
		"listen: :8080\n",
		"rules:\n  - path: /a/**\n    policy: authenticated\n    roles: [admin]\n    methods: [GET]\n",
		"tokens:\n  keys:\n    - kid: a\n      alg: HS256\n      secret: ${JWT_SECRET:-0123456789abcdef0123456789abcdef}\n",
		"store:\n  type: redis\n  redis:\n    url: redis://127.0.0.1:6379/15\n",
		"upstreams:\n  named:\n    a: http://x:1\n",
		"a: &a {listen: x}\n<<: [*a, *a]\n",
		"rules:\n  - &r {path: /a, policy: public}\n  - <<: *r\n    path: /b\n",
		"- a\n- b\n",
		"listen: [\n",
		"---\n---\n",
		"mail:\n  smtp:\n    port: ${P:-25}\n    timeout: 1h\n",
		"trusted_proxies: [10.0.0.0/8, ::1]\nlisten: !!binary aGVsbG8=\n",
		"? [a]\n: b\n",
		"passwords: {memory_kib: 4294967296, parallelism: -1}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := LoadBytes(data)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		var ps Problems
		if !errors.As(err, &ps) || !ps.HasErrors() {
			t.Fatalf("error %v (%T) is not Problems with an error", err, err)
		}
		if cfg != nil {
			t.Fatal("config returned with errors")
		}
	})
}
