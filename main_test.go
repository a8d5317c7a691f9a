package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"authgate/auth"
	"authgate/config"
)

func runCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckAcceptsTheShippedConfig(t *testing.T) {
	code, out, errs := runCmd(t, "", "check", "-config", "gateway.yaml")
	if code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("check gateway.yaml: %d %q %q", code, out, errs)
	}
}

func TestCheckNamesEveryProblemWithItsPath(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	yaml := `
listen: ":8080"
store: {type: cassandra}
rules:
  - {path: /api/**, policy: authenticated, methods: [GTE]}
  - {path: /x, policy: maybe}
  - {path: /api/users, policy: public}
unknown_key: 1
`
	if err := os.WriteFile(bad, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCmd(t, "", "check", "-config", bad)
	if code == 0 {
		t.Fatal("check accepted a bad config")
	}
	for _, want := range []string{"store.type", `rules[0].methods[0]`, "GTE", "rules[1].policy", "unknown_key"} {
		if !strings.Contains(errs, want) {
			t.Errorf("check output lacks %q:\n%s", want, errs)
		}
	}
}

func TestCheckWarnsAboutShadowedRules(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "g.yaml")
	yaml := "data_dir: " + dir + "\nrules:\n  - {path: /api/**, policy: authenticated}\n  - {path: /api/users, policy: public}\n"
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AUTHGATE_CONFIG", p)
	code, out, errs := runCmd(t, "", "check")
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("warnings must not fail check: %d %s %s", code, out, errs)
	}
	if !strings.Contains(errs, "warning: rules[1]") {
		t.Errorf("no shadowing warning for rules[1]:\n%s", errs)
	}
}

func TestHashPasswordPrintsAVerifiableArgon2idHash(t *testing.T) {
	code, out, errs := runCmd(t, "s3cret-password\n", "hash-password")
	if code != 0 {
		t.Fatalf("%d %s", code, errs)
	}
	h := strings.TrimSpace(out)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q", h)
	}
	cfg := &config.Config{}
	config.ApplyDefaults(cfg)
	ok, _, err := auth.NewHasher(cfg.Passwords).Verify(context.Background(), h, "s3cret-password")
	if err != nil || !ok {
		t.Fatalf("hash does not verify: %v %v", ok, err)
	}
	if code, _, _ := runCmd(t, "", "hash-password"); code == 0 {
		t.Error("empty password accepted")
	}
}

func TestVersionAndUnknownCommand(t *testing.T) {
	if code, out, _ := runCmd(t, "", "version"); code != 0 || !strings.HasPrefix(out, "authgate ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, "", "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown: %d %q", code, errs)
	}
}
