package config

import (
	"strings"
	"testing"
)

func fakeEnv(vars map[string]string) lookupFunc {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestExpandEnvReplacesReferences(t *testing.T) {
	env := fakeEnv(map[string]string{"HOST": "db.local", "PORT": "6379", "EMPTY": ""})
	tests := []struct {
		name, in, want string
		changed        bool
	}{
		{"plain text is kept", "hello", "hello", false},
		{"whole value", "${HOST}", "db.local", true},
		{"inside text", "redis://${HOST}:${PORT}/0", "redis://db.local:6379/0", true},
		{"default used when unset", "${NOPE:-fallback}", "fallback", true},
		{"default used when empty", "${EMPTY:-fallback}", "fallback", true},
		{"default ignored when set", "${HOST:-fallback}", "db.local", true},
		{"empty default", "${NOPE:-}", "", true},
		{"default may hold colons", "${NOPE:-http://x:1}", "http://x:1", true},
		{"set but empty without default", "${EMPTY}", "", true},
		{"escaped reference is literal", "$${HOST}", "${HOST}", true},
		{"lone dollar kept", "a$b$", "a$b$", false},
		{"bcrypt hash untouched", "$2b$10$abcdefghijklmnopqrstuv", "$2b$10$abcdefghijklmnopqrstuv", false},
		{"argon2id hash untouched", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", false},
		{"value of a variable is not expanded again", "${SELF}", "${HOST}", true},
	}
	env2 := func(name string) (string, bool) {
		if name == "SELF" {
			return "${HOST}", true
		}
		return env(name)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed, err := expandEnv(tt.in, env2)
			if err != nil {
				t.Fatalf("expandEnv(%q): %v", tt.in, err)
			}
			if got != tt.want || changed != tt.changed {
				t.Errorf("expandEnv(%q) = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
			}
		})
	}
}

func TestExpandEnvRejectsBadReferences(t *testing.T) {
	tests := []struct{ name, in, wantErr string }{
		{"unset variable", "${JWT_SECRET}", "environment variable JWT_SECRET is not set"},
		{"unterminated", "abc${HOST", "unterminated"},
		{"empty name", "${}", "invalid environment reference"},
		{"name starting with digit", "${1A}", "invalid environment reference"},
		{"shell-style operator", "${A:=b}", "invalid environment reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := expandEnv(tt.in, fakeEnv(nil))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("expandEnv(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestPathFromEnvPrefersFlagThenEnvThenDefault(t *testing.T) {
	tests := []struct {
		name      string
		flag      string
		flagSet   bool
		env, want string
	}{
		{"flag wins over env", "/etc/a.yaml", true, "/etc/b.yaml", "/etc/a.yaml"},
		{"env used when flag not set", "gateway.yaml", false, "/etc/b.yaml", "/etc/b.yaml"},
		{"default when neither", "", false, "", "gateway.yaml"},
		{"explicit flag equal to default still wins", "gateway.yaml", true, "/etc/b.yaml", "gateway.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvConfigPath, tt.env)
			if got := PathFromEnv(tt.flag, tt.flagSet); got != tt.want {
				t.Errorf("PathFromEnv(%q, %v) with %s=%q = %q, want %q", tt.flag, tt.flagSet, EnvConfigPath, tt.env, got, tt.want)
			}
		})
	}
}
