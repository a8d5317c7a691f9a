package usercmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"authgate/account"
	"authgate/auth"
	"authgate/config"
	"authgate/store"
	"authgate/store/boltstore"
)

// fastHash keeps argon2id cheap in tests.
const fastHash = "passwords: {memory_kib: 1024, iterations: 1, parallelism: 1}\n"

// writeConfig writes a config for the embedded store in a fresh directory.
func writeConfig(t *testing.T, extra string) (string, *config.Config) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	y := "data_dir: " + dir + "\nadmin_listen: \"off\"\n" + fastHash + extra
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

type out struct {
	code           int
	stdout, stderr string
}

func users(t *testing.T, cfgPath, stdin string, args ...string) out {
	t.Helper()
	var o, e bytes.Buffer
	args = append(args, "-config", cfgPath, "-wait", "200ms")
	code := Run(context.Background(), args, strings.NewReader(stdin), &o, &e)
	return out{code, o.String(), e.String()}
}

func (o out) view(t *testing.T) View {
	t.Helper()
	var v View
	if err := json.Unmarshal([]byte(o.stdout), &v); err != nil {
		t.Fatalf("stdout %q: %v", o.stdout, err)
	}
	return v
}

// Every command, run against the embedded store with no gateway running:
// the command opens the file itself.
func TestEveryCommandOnTheEmbeddedStore(t *testing.T) {
	path, cfg := writeConfig(t, "")
	add := users(t, path, "correct horse battery\n", "add", "carol", "-email", "carol@example.com", "-roles", "user,ops")
	if add.code != 0 {
		t.Fatalf("add: %+v", add)
	}
	v := add.view(t)
	if v.Username != "carol" || v.Email != "carol@example.com" || strings.Join(v.Roles, ",") != "user,ops" || !v.Active {
		t.Fatalf("added %+v", v)
	}
	if strings.Contains(add.stdout, "correct horse") || strings.Contains(add.stdout, "argon2") {
		t.Fatal("add printed the password or its hash")
	}
	if o := users(t, path, "", "show", "CAROL"); o.code != 0 || o.view(t).ID != v.ID {
		t.Fatalf("show by username, any case: %+v", o)
	}
	if o := users(t, path, "", "show", v.ID); o.code != 0 || o.view(t).Username != "carol" {
		t.Fatalf("show by id: %+v", o)
	}
	if o := users(t, path, "", "list"); o.code != 0 || !strings.Contains(o.stdout, "carol") || !strings.Contains(o.stdout, "USERNAME") {
		t.Fatalf("list: %+v", o)
	}
	steps := []struct {
		args  []string
		stdin string
		check func(u store.User) bool
	}{
		{[]string{"set-roles", "carol", "admin", "user"}, "", func(u store.User) bool { return strings.Join(u.Roles, ",") == "admin,user" }},
		{[]string{"disable", "carol"}, "", func(u store.User) bool { return !u.Active }},
		{[]string{"enable", "carol"}, "", func(u store.User) bool { return u.Active }},
		{[]string{"set-password", "carol", "-must-change-password"}, "a new passphrase\n", func(u store.User) bool { return u.MustChangePassword }},
		{[]string{"revoke-sessions", "carol"}, "", func(u store.User) bool { return u.Active }},
	}
	for _, s := range steps {
		if o := users(t, path, s.stdin, s.args...); o.code != 0 {
			t.Fatalf("%v: %+v", s.args, o)
		}
		u := load(t, cfg, v.ID)
		if !s.check(u) {
			t.Errorf("%v: user now %+v", s.args, u)
		}
	}
	ok, _, err := auth.NewHasher(cfg.Passwords).Verify(context.Background(), load(t, cfg, v.ID).PasswordHash, "a new passphrase")
	if err != nil || !ok {
		t.Errorf("set-password did not set the password: %v %v", ok, err)
	}
	putFactors := func() {
		withStore(t, cfg, func(st store.Store) {
			f, _ := st.GetSecondFactors(context.Background(), v.ID)
			f.UserID, f.RecoveryHashes = v.ID, []string{"h"}
			if _, err := st.PutSecondFactors(context.Background(), f); err != nil {
				t.Fatal(err)
			}
		})
	}
	putFactors()
	if o := users(t, path, "", "reset-mfa", "carol"); o.code != 1 || !strings.Contains(o.stderr, "not enabled") {
		t.Fatalf("reset-mfa with mfa off: %+v", o)
	}
	mfaPath, _ := writeConfig(t, "store: {path: "+cfg.Store.Path+"}\nmfa: {enabled: true, encryption_key: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=}\n")
	if o := users(t, mfaPath, "", "reset-mfa", "carol"); o.code != 0 || !strings.Contains(o.stdout, "second factors deleted") {
		t.Fatalf("reset-mfa: %+v", o)
	}
	withStore(t, cfg, func(st store.Store) {
		if f, err := st.GetSecondFactors(context.Background(), v.ID); err != nil || f.Version != 0 {
			t.Errorf("second factors after reset-mfa: %+v, %v; want none", f, err)
		}
	})
	putFactors()
	if o := users(t, path, "", "delete", "carol"); o.code != 0 {
		t.Fatalf("delete: %+v", o)
	}
	if o := users(t, path, "", "show", "carol"); o.code != 1 || !strings.Contains(o.stderr, "no user has this username or id") {
		t.Fatalf("show after delete: %+v", o)
	}
	withStore(t, cfg, func(st store.Store) {
		if f, err := st.GetSecondFactors(context.Background(), v.ID); err != nil || f.Version != 0 {
			t.Errorf("deleted user's second factors: %+v, %v; want none", f, err)
		}
	})
}

// withStore runs fn on the embedded store, opened while no command runs.
func withStore(t *testing.T, cfg *config.Config, fn func(store.Store)) {
	t.Helper()
	st, err := boltstore.Open(cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fn(st)
}

func load(t *testing.T, cfg *config.Config, id string) store.User {
	t.Helper()
	st, err := boltstore.Open(cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.GetUser(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The command line refuses what the admin API refuses, with the same words.
func TestCommandsValidateLikeTheAPI(t *testing.T) {
	path, _ := writeConfig(t, "")
	if o := users(t, path, "first-password-1\n", "add", "dave"); o.code != 0 {
		t.Fatalf("add: %+v", o)
	}
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"weak password", "short\n", []string{"add", "erin"}, 1, "password"},
		{"password equal to the username", "erin-erin-erin\n", []string{"add", "erin-erin-erin"}, 1, "password"},
		{"username taken, any case", "another-password-1\n", []string{"add", "DAVE"}, 1, "another account has this username"},
		{"bad email", "another-password-1\n", []string{"add", "erin", "-email", "Erin <e@x>"}, 1, "email"},
		{"bad role", "", []string{"set-roles", "dave", "a b"}, 1, "roles"},
		{"no password on stdin", "", []string{"set-password", "dave"}, 1, "no password on stdin"},
		{"unknown user", "", []string{"disable", "nobody"}, 1, "no user has this username or id"},
		{"unknown command", "", []string{"promote", "dave"}, 2, "unknown command"},
		{"missing user", "", []string{"show"}, 2, "wrong number of arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := users(t, path, tc.stdin, tc.args...)
			if o.code != tc.code || !strings.Contains(o.stderr, tc.want) {
				t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, o.code, o.stderr, tc.code, tc.want)
			}
		})
	}
}

func TestMemoryStoreIsRefused(t *testing.T) {
	path, _ := writeConfig(t, "store: {type: memory}\n")
	if o := users(t, path, "", "list"); o.code != 1 || !strings.Contains(o.stderr, "memory") {
		t.Fatalf("%+v", o)
	}
}

// A gateway holds the bbolt file locked. Without a control socket the
// command waits for the lock and then says why it gave up; with one, the
// command runs in the gateway, on its open store.
func TestEmbeddedStoreInUseGoesThroughTheControlSocket(t *testing.T) {
	path, cfg := writeConfig(t, "")
	st, err := boltstore.Open(cfg.Store.Path) // the "running gateway"
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	o := users(t, path, "first-password-1\n", "add", "frank")
	if o.code != 1 || !strings.Contains(o.stderr, "locked") || !strings.Contains(o.stderr, SocketPath(cfg)) {
		t.Fatalf("with the store locked and no socket: %+v", o)
	}

	sessions := auth.NewSessions(st, nil, auth.NewRevocations(), cfg.Tokens)
	svc, err := account.New(cfg, st, auth.NewHasher(cfg.Passwords), sessions, account.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(SocketPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(SocketPath(cfg)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, func() *account.Service { return svc }, nil) }()
	defer func() {
		cancel()
		<-done
	}()

	if o := users(t, path, "first-password-1\n", "add", "frank", "-roles", "user"); o.code != 0 {
		t.Fatalf("add through the socket: %+v", o)
	}
	if o := users(t, path, "short\n", "set-password", "frank"); o.code != 1 || !strings.Contains(o.stderr, "password") {
		t.Fatalf("refusal through the socket: %+v", o)
	}
	u, err := st.GetUserByUsername(context.Background(), "frank")
	if err != nil || !u.Active {
		t.Fatalf("frank in the running store: %+v %v", u, err)
	}
	// Sessions the running process made are revoked in that process.
	if err := st.CreateSession(context.Background(), store.Session{ID: "s1", UserID: u.ID,
		ExpiresAt: time.Now().Add(time.Hour), RefreshExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if o := users(t, path, "", "revoke-sessions", "frank"); o.code != 0 {
		t.Fatalf("revoke-sessions: %+v", o)
	}
	revoked, err := st.RevokedSessions(context.Background())
	if err != nil || revoked["s1"].IsZero() {
		t.Fatalf("session not revoked in the running store: %v %v", revoked, err)
	}
	if o := users(t, path, "", "list", "-json"); o.code != 0 || strings.Count(o.stdout, "\n") != 1 {
		t.Fatalf("list through the socket: %+v", o)
	}
}
