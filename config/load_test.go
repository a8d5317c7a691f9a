package config

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// loadProblems loads src with env and returns the problems (nil when it
// loads) and the config.
func loadProblems(t *testing.T, src string, env map[string]string) (*Config, Problems) {
	t.Helper()
	cfg, err := load([]byte(src), fakeEnv(env))
	if err == nil {
		return cfg, nil
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("load error is %T, want Problems: %v", err, err)
	}
	if cfg != nil {
		t.Errorf("load returned a config with errors")
	}
	return nil, ps
}

// findProblem returns the problem at path whose message contains msg.
func findProblem(ps Problems, path, msg string) (Problem, bool) {
	for _, p := range ps {
		if p.Path == path && strings.Contains(p.Msg, msg) {
			return p, true
		}
	}
	return Problem{}, false
}

func TestShippedGatewayYAMLLoadsWithoutProblems(t *testing.T) {
	cfg, err := Load("../gateway.yaml")
	if err != nil {
		t.Fatalf("Load(../gateway.yaml): %v", err)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"listen", cfg.Listen, ":8080"},
		{"upstream", cfg.Upstreams.Default, "http://127.0.0.1:9000"},
		{"store", cfg.Store.Type, "embedded"},
		{"rules", len(cfg.Rules), 3},
		{"default policy", cfg.DefaultPolicy, "deny"},
		{"trusted proxies", strings.Join(cfg.TrustedProxies, ","), "127.0.0.1/32,::1/128"},
		{"mail", cfg.Mail.Driver, "log"},
		{"admin roles", strings.Join(cfg.Users.Seed[0].Roles, ","), "admin,user"},
		{"admin must change password", cfg.Users.Seed[0].MustChangePassword, true},
		{"data dir", cfg.DataDir, "./data"},
		{"alice roles", strings.Join(cfg.Users.Seed[1].Roles, ","), "user"},
		{"login rate", cfg.RateLimits.LoginPerIP, "30-M"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

// The example promises these passwords in its comments and README.
func TestShippedSeedHashesMatchDocumentedPasswords(t *testing.T) {
	cfg, err := Load("../gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"admin": "change-me-now", "alice": "alice-password-1"}
	for _, u := range cfg.Users.Seed {
		pw, ok := want[u.Username]
		if !ok {
			t.Errorf("unexpected seed user %q", u.Username)
			continue
		}
		parts := strings.Split(u.PasswordHash, "$")
		if len(parts) != 6 || parts[3] != "m=19456,t=2,p=1" {
			t.Fatalf("%s: hash %q is not argon2id m=19456,t=2,p=1", u.Username, u.PasswordHash)
		}
		salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
		sum, err2 := base64.RawStdEncoding.DecodeString(parts[5])
		if err1 != nil || err2 != nil || len(salt) != 16 || len(sum) != 32 {
			t.Fatalf("%s: salt or hash malformed", u.Username)
		}
		got := argon2.IDKey([]byte(pw), salt, 2, 19456, 1, 32)
		if subtle.ConstantTimeCompare(got, sum) != 1 {
			t.Errorf("%s: hash does not match password %q", u.Username, pw)
		}
		delete(want, u.Username)
	}
	if len(want) != 0 {
		t.Errorf("seed users missing: %v", want)
	}
}

func TestUnknownKeysAreRejectedWithPathAndLine(t *testing.T) {
	tests := []struct {
		name, src, path string
		line            int
		hint            string
	}{
		{"top level", "listen: :8080\nlisen: :9090\n", "lisen", 2, `did you mean "listen"?`},
		{"nested", "store:\n  type: redis\n  redis:\n    urll: redis://x\n", "store.redis.urll", 4, `did you mean "url"?`},
		{"in a list item", "rules:\n  - path: /a\n    policy: public\n  - path: /b\n    polic: deny\n", "rules[1].polic", 5, `did you mean "policy"?`},
		{"in a key", "tokens:\n  keys:\n    - kid: a\n      private_key: x\n", "tokens.keys[0].private_key", 4, "unknown key"},
		{"far from any name lists them", "server:\n  zzzzzzzz: 1\n", "server.zzzzzzzz", 2, "known keys: body_limit"},
		{"keys are case-sensitive", "Listen: :8080\n", "Listen", 1, `did you mean "listen"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := loadProblems(t, tt.src, nil)
			p, ok := findProblem(ps, tt.path, "unknown key")
			if !ok {
				t.Fatalf("no unknown-key problem at %s in:\n%v", tt.path, ps)
			}
			if p.Line != tt.line || !strings.Contains(p.Msg, tt.hint) {
				t.Errorf("got %q (line %d), want line %d and %q", p.Msg, p.Line, tt.line, tt.hint)
			}
		})
	}
}

func TestNamedUpstreamsAcceptAnyName(t *testing.T) {
	cfg, ps := loadProblems(t, "upstreams:\n  named:\n    billing: http://10.0.0.7:8081\n    my-api: https://api.local\n", nil)
	if ps != nil {
		t.Fatal(ps)
	}
	if cfg.Upstreams.Named["my-api"] != "https://api.local" {
		t.Errorf("named = %v", cfg.Upstreams.Named)
	}
}

func TestStructureErrorsNameThePath(t *testing.T) {
	tests := []struct{ name, src, path, msg string }{
		{"duplicate key", "listen: :1\nlog:\n  level: info\nlisten: :2\n", "listen", "duplicate key (first set on line 1)"},
		{"duration as number", "tokens:\n  access_ttl: 900\n", "tokens.access_ttl", `invalid duration "900"`},
		{"bad duration", "tokens:\n  access_ttl: 15 minutes\n", "tokens.access_ttl", "invalid duration"},
		{"string for int", "server:\n  body_limit: big\n", "server.body_limit", `expected a whole number, got "big"`},
		{"negative for unsigned", "passwords:\n  memory_kib: -1\n", "passwords.memory_kib", "whole number from 0 to 4294967295"},
		{"overflow uint8", "passwords:\n  parallelism: 300\n", "passwords.parallelism", "from 0 to 255"},
		{"string for bool", "users:\n  registration: maybe\n", "users.registration", "boolean"},
		{"mapping for string", "listen:\n  port: 1\n", "listen", "expected a string, got a mapping"},
		{"scalar for list", "trusted_proxies: 10.0.0.0/8\n", "trusted_proxies", "expected a list"},
		{"list for mapping", "store: [a]\n", "store", "expected a mapping, got a list"},
		{"scalar for struct list item", "rules:\n  - /a\n", "rules[0]", "expected a mapping"},
		{"root not a mapping", "- a\n", "", "expected a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := loadProblems(t, tt.src, nil)
			if _, ok := findProblem(ps, tt.path, tt.msg); !ok {
				t.Errorf("want %s: ...%s... in:\n%v", tt.path, tt.msg, ps)
			}
		})
	}
}

func TestYAMLSyntaxErrorsCarryTheLine(t *testing.T) {
	_, ps := loadProblems(t, "listen: :8080\nstore:\n  type: [embedded\n", nil)
	if len(ps) != 1 || !strings.HasPrefix(ps[0].Msg, "invalid YAML") || ps[0].Line == 0 {
		t.Errorf("got %#v, want one invalid YAML problem with a line", ps)
	}
}

func TestOnlyOneYAMLDocumentIsAllowed(t *testing.T) {
	_, ps := loadProblems(t, "listen: :8080\n---\nlisten: :9090\n", nil)
	if _, ok := findProblem(ps, "", "exactly one YAML document"); !ok {
		t.Errorf("got %v", ps)
	}
}

// An empty config (a truncated deploy, a wrong path, an unmounted volume)
// is refused: all defaults is never what a deployment meant.
func TestEmptyConfigIsRefused(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "---\n", "~\n", "null\n", "{}\n"} {
		cfg, ps := loadProblems(t, src, nil)
		if cfg != nil {
			t.Errorf("%q loaded", src)
		}
		if _, ok := findProblem(ps, "", "the config is empty"); !ok {
			t.Errorf("%q: got %v", src, ps)
		}
	}
}

func TestExcessiveAliasingIsRefused(t *testing.T) {
	// The schema is shallow, so nested lists stop at the first type
	// mismatch; merge keys follow the document instead, so they are the
	// way to make the walk explode.
	src := `a: &a {log: {level: info}}
b: &b {<<: [*a,*a,*a,*a,*a,*a,*a,*a,*a]}
c: &c {<<: [*b,*b,*b,*b,*b,*b,*b,*b,*b]}
d: &d {<<: [*c,*c,*c,*c,*c,*c,*c,*c,*c]}
e: &e {<<: [*d,*d,*d,*d,*d,*d,*d,*d,*d]}
f: &f {<<: [*e,*e,*e,*e,*e,*e,*e,*e,*e]}
g: &g {<<: [*f,*f,*f,*f,*f,*f,*f,*f,*f]}
<<: [*g,*g,*g,*g,*g,*g,*g,*g,*g]
`
	_, ps := loadProblems(t, src, nil)
	if _, ok := findProblem(ps, "", "excessive aliasing"); !ok {
		t.Errorf("got %d problems, want excessive aliasing; first: %v", len(ps), ps[:min(3, len(ps))])
	}
}

func TestMergeCyclesAreRefused(t *testing.T) {
	for _, src := range []string{
		"store: &s\n  <<: *s\n",
		"rules:\n  - &r\n    path: /a\n    policy: public\n    <<: [*r]\n",
	} {
		_, ps := loadProblems(t, src, nil)
		if len(ps) != 1 || !strings.Contains(ps[0].Msg, "merges a mapping into itself") {
			t.Errorf("%q: got %v, want one merge-cycle problem", src, ps)
		}
	}
}

func TestAnchorsAndMergeKeysWork(t *testing.T) {
	src := `
x-authed: &authed
  policy: authenticated
  roles: [staff]
rules:
  - <<: *authed
    path: /a/**
  - <<: *authed
    path: /b/**
    roles: [admin]
`
	// x-authed is not a key of the schema: anchors must live on real keys.
	_, ps := loadProblems(t, src, nil)
	if _, ok := findProblem(ps, "x-authed", "unknown key"); !ok {
		t.Fatalf("want x-authed rejected, got %v", ps)
	}
	src = `
rules:
  - &authed
    path: /a/**
    policy: authenticated
    roles: [staff]
  - <<: *authed
    path: /b/**
    roles: [admin]
`
	cfg, ps := loadProblems(t, src, nil)
	if ps != nil {
		t.Fatal(ps)
	}
	r := cfg.Rules[1]
	if r.Path != "/b/**" || r.Policy != "authenticated" || strings.Join(r.Roles, ",") != "admin" {
		t.Errorf("merged rule = %+v, want path /b/**, policy authenticated, roles admin", r)
	}
}

func TestEnvReferencesExpandInValues(t *testing.T) {
	env := map[string]string{
		"SMTP_PORT": "2525", "TTL": "5m", "SECRET": "0123456789abcdef0123456789abcdef",
		"LOOKS_NULL": "null", "LOOKS_BOOL": "true", "ZEROS": "007", "DRIVER": "smtp", "FLAG": "true",
	}
	src := `
mail:
  driver: ${DRIVER}
  from: "${FROM:-noreply@example.com}"
  smtp:
    host: ${SMTP_HOST:-smtp.local}
    port: ${SMTP_PORT}
    username: ${LOOKS_BOOL}
    password: ${LOOKS_NULL}
    timeout: ${TTL}
tokens:
  issuer: ${ZEROS}
  keys:
    - kid: k
      alg: HS256
      secret: "${SECRET}"
users:
  registration: ${FLAG}
`
	cfg, ps := loadProblems(t, src, env)
	if ps != nil {
		t.Fatal(ps)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"string", cfg.Mail.Driver, "smtp"},
		{"default in quotes", cfg.Mail.From, "noreply@example.com"},
		{"default", cfg.Mail.SMTP.Host, "smtp.local"},
		{"int", cfg.Mail.SMTP.Port, 2525},
		{"duration", cfg.Mail.SMTP.Timeout, 5 * time.Minute},
		{"bool-looking string kept as text", cfg.Mail.SMTP.Username, "true"},
		{"null-looking string kept as text", cfg.Mail.SMTP.Password, "null"},
		{"number-looking string kept as text", cfg.Tokens.Issuer, "007"},
		{"quoted secret", cfg.Tokens.Keys[0].Secret, env["SECRET"]},
		{"bool", cfg.Users.Registration, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

func TestEnvReferenceProblemsNameTheField(t *testing.T) {
	tests := []struct{ name, src, path, msg string }{
		{"unset secret", "tokens:\n  keys:\n    - kid: a\n      alg: HS256\n      secret: ${JWT_SECRET}\n",
			"tokens.keys[0].secret", "environment variable JWT_SECRET is not set"},
		{"unset in list", "trusted_proxies: [10.0.0.0/8, '${PROXY}']\n", "trusted_proxies[1]", "PROXY is not set"},
		{"unset in map value", "upstreams:\n  named:\n    api: ${API_URL}\n", "upstreams.named.api", "API_URL is not set"},
		{"not an int", "mail:\n  smtp:\n    port: ${NAN}\n", "mail.smtp.port", `expected a whole number, got "abc"`},
		{"malformed", "listen: ${LISTEN\n", "listen", "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := loadProblems(t, tt.src, map[string]string{"NAN": "abc"})
			if _, ok := findProblem(ps, tt.path, tt.msg); !ok {
				t.Errorf("want %s: ...%s... in:\n%v", tt.path, tt.msg, ps)
			}
			// The field is reported once: validation does not repeat it.
			n := 0
			for _, p := range ps {
				if p.Path == tt.path {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s reported %d times:\n%v", tt.path, n, ps)
			}
		})
	}
}

func TestEnvReferencesAreNotExpandedInKeysOrComments(t *testing.T) {
	_, ps := loadProblems(t, "# listen is ${UNSET_IN_COMMENT}\nlisten: :8080 # ${ALSO_UNSET}\n", nil)
	if ps != nil {
		t.Errorf("comment references were expanded: %v", ps)
	}
	_, ps = loadProblems(t, "${KEY}: x\n", map[string]string{"KEY": "listen"})
	if _, ok := findProblem(ps, "${KEY}", "unknown key"); !ok {
		t.Errorf("key reference was expanded: %v", ps)
	}
}

func TestInlineSecretsAreWarnedAbout(t *testing.T) {
	src := "tokens:\n  keys:\n    - kid: a\n      alg: HS256\n      secret: 0123456789abcdef0123456789abcdef\n"
	cfg, ps := loadProblems(t, src, nil)
	if ps != nil {
		t.Fatal(ps)
	}
	w := cfg.Warnings()
	if p, ok := findProblem(w, "tokens.keys[0].secret", "inline"); !ok || !p.Warning || p.Line != 5 {
		t.Errorf("want an inline-secret warning on line 5, got %v", w)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSecretFilesAreReadIntoPasswords(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"trailing newline trimmed", "s3cret\n", "s3cret"},
		{"CRLF trimmed", "s3cret\r\n", "s3cret"},
		{"only one newline trimmed", "s3cret\n\n", "s3cret\n"},
		{"no newline", "s3cret", "s3cret"},
		{"inner spaces kept", " s3 cret \n", " s3 cret "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := writeFile(t, "pw", tt.content)
			src := "store:\n  type: redis\n  redis:\n    url: redis://127.0.0.1:6379/15\n    password_file: " + f +
				"\nmail:\n  driver: smtp\n  smtp:\n    host: smtp.local\n    username: u\n    password_file: " + f + "\n"
			cfg, ps := loadProblems(t, src, nil)
			if ps != nil {
				t.Fatal(ps)
			}
			if cfg.Store.Redis.Password != tt.want || cfg.Mail.SMTP.Password != tt.want {
				t.Errorf("passwords = %q, %q; want %q", cfg.Store.Redis.Password, cfg.Mail.SMTP.Password, tt.want)
			}
			if cfg.Store.Redis.PasswordFile != f {
				t.Errorf("password_file changed to %q", cfg.Store.Redis.PasswordFile)
			}
		})
	}
}

func TestSecretFileProblems(t *testing.T) {
	empty := writeFile(t, "empty", "\n")
	tests := []struct{ name, src, path, msg string }{
		{"missing redis file", "store:\n  redis:\n    password_file: /nonexistent/pw\n", "store.redis.password_file", "no such file"},
		{"empty smtp file", "mail:\n  smtp:\n    password_file: " + empty + "\n", "mail.smtp.password_file", "is empty"},
		{"both password and file", "mail:\n  smtp:\n    password: ${P}\n    password_file: " + empty + "\n", "mail.smtp.password_file", "set only one of password and password_file"},
		{"missing token secret file", "tokens:\n  keys:\n    - kid: a\n      alg: HS256\n      secret_file: /nonexistent/jwt\n", "tokens.keys[0].secret_file", "no such file"},
		{"token secret file is a directory", "tokens:\n  keys:\n    - kid: a\n      alg: HS256\n      secret_file: " + t.TempDir() + "\n", "tokens.keys[0].secret_file", "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := loadProblems(t, tt.src, map[string]string{"P": "x"})
			p, ok := findProblem(ps, tt.path, tt.msg)
			if !ok {
				t.Fatalf("want %s: ...%s... in:\n%v", tt.path, tt.msg, ps)
			}
			if p.Line == 0 {
				t.Errorf("problem has no line: %v", p)
			}
		})
	}
}

func TestTokenSecretFileIsCheckedButNotRead(t *testing.T) {
	f := writeFile(t, "jwt", "0123456789abcdef0123456789abcdef\n")
	cfg, ps := loadProblems(t, "tokens:\n  keys:\n    - kid: a\n      alg: HS256\n      secret_file: "+f+"\n", nil)
	if ps != nil {
		t.Fatal(ps)
	}
	if cfg.Tokens.Keys[0].Secret != "" {
		t.Errorf("secret_file was read into secret")
	}
}

func TestEveryProblemIsReportedInFileOrder(t *testing.T) {
	src := `listen: nope
store:
  type: sql
rules:
  - path: admin
    policy: maybe
    methods: ["G T"]
  - path: /x
    policy: public
    roles: [admin]
    upstream: nowhere
tokens:
  access_ttl: -1m
trusted_proxies: [10.0.0.0/8, 300.1.1.1/8]
`
	_, ps := loadProblems(t, src, nil)
	want := []string{
		`listen: invalid address "nope"`,
		`store.type: must be one of embedded, redis, memory`,
		`rules[0].path: "admin" must start with /`,
		`rules[0].policy: must be one of public, authenticated, deny`,
		`rules[0].methods[0]: invalid method "G T"`,
		`rules[1].roles: roles are only allowed with policy authenticated`,
		`rules[1].upstream: no upstream named "nowhere"`,
		`tokens.access_ttl: must be positive`,
		`trusted_proxies[1]: invalid CIDR "300.1.1.1/8"`,
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ps), len(want), ps)
	}
	for i := 0; i < min(len(ps), len(want)); i++ {
		if !strings.HasPrefix(ps[i].String(), want[i]) {
			t.Errorf("problem %d = %q, want prefix %q", i, ps[i].String(), want[i])
		}
	}
	if got := ps.Error(); strings.Count(got, "\n") != len(ps)-1 || !strings.Contains(got, "(line 7)") {
		t.Errorf("Error() = %q, want one line per problem with line numbers", got)
	}
}

func TestLoadReportsAnUnreadableFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"))
	var ps Problems
	if err == nil || errors.As(err, &ps) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want a wrapped not-exist error", err)
	}
}
