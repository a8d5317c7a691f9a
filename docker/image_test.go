// Package docker holds the configuration baked into the authgate image;
// this test checks the image's build files, since no Docker engine runs
// in CI: what the build context leaves out (.dockerignore), what the
// Dockerfile copies, and that the image's config seeds no user.
package docker

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"authgate/config"
)

// ignoreRule is one line of .dockerignore, as Docker reads it: a pattern
// relative to the context root ("**" any directories, "*" within one
// name), matching a path or any directory above it; "!" re-includes; the
// last matching line wins.
type ignoreRule struct {
	re      *regexp.Regexp
	include bool
}

func readDockerignore(t *testing.T) []ignoreRule {
	t.Helper()
	f, err := os.Open("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []ignoreRule
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if r.include = strings.HasPrefix(line, "!"); r.include {
			line = line[1:]
		}
		line = strings.TrimPrefix(filepath.ToSlash(filepath.Clean(line)), "/")
		var b strings.Builder
		b.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "**/"):
				b.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				b.WriteString(".*")
				i++
			case c == '*':
				b.WriteString("[^/]*")
			case c == '?':
				b.WriteString("[^/]")
			default:
				b.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		b.WriteString("$")
		r.re = regexp.MustCompile(b.String())
		rules = append(rules, r)
	}
	return rules
}

// excluded reports whether path (slash-separated, relative to the
// repository root) stays out of the build context.
func excluded(rules []ignoreRule, path string) bool {
	out := false
	for _, r := range rules {
		for p := path; p != "." && p != ""; p = filepath.ToSlash(filepath.Dir(p)) {
			if r.re.MatchString(p) {
				out = !r.include
				break
			}
		}
	}
	return out
}

func TestDockerignoreKeepsDataGitAndSecretsOutOfTheBuildContext(t *testing.T) {
	rules := readDockerignore(t)
	for _, p := range []string{
		"data", "data/authgate.db", "data/keys/ed25519.pem", "data/authgate.db.sock",
		".git", ".git/config", ".bench/results.txt", "authgate", "gateway.test", "cpu.prof",
		".env", ".env.production", "tls.key", "certs/server.pem", "run/secrets/jwt", "jwt.secret",
		"store/testdata/fuzz/FuzzX/abc", "tools/hydra/bin/hydra", "some/nested/data/x.db",
	} {
		if !excluded(rules, p) {
			t.Errorf("%s would be sent to the Docker daemon", p)
		}
	}
}

// Everything the build needs stays in: every non-test Go file, the files
// they embed, go.mod, go.sum and the image's config.
func TestDockerignoreKeepsWhatTheBuildNeeds(t *testing.T) {
	rules := readDockerignore(t)
	need := []string{"go.mod", "go.sum", "docker/gateway.yaml"}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, "../"))
		if d.IsDir() {
			if rel == ".git" || rel == "data" || strings.HasPrefix(rel, "tools/hydra/bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") || strings.Contains(rel, "/templates/") {
			need = append(need, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(need) < 50 {
		t.Fatalf("found only %d files to build from", len(need))
	}
	for _, p := range need {
		if excluded(rules, p) {
			t.Errorf("%s is needed by the build but left out of the context", p)
		}
	}
}

func TestDockerfileBuildsWithGo1273AndShipsTheImageConfig(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		"FROM golang:1.27.3-", // the toolchain go.mod names
		"COPY docker/gateway.yaml /etc/authgate/gateway.yaml", // the image config, no seeded users
		"USER 65532:65532", // not root
		"FROM gcr.io/distroless/static-debian12:nonroot",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	for _, line := range strings.Split(df, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "COPY" && !strings.HasPrefix(f[1], "--from") {
			if src := f[1]; src == "gateway.yaml" || strings.HasPrefix(src, "data") {
				t.Errorf("the runtime image copies %s from the context: %q", src, line)
			}
		}
	}
}

// The image's config must hold no user and no password hash: the
// repository's gateway.yaml seeds admin/change-me-now and
// alice/alice-password-1 for trying authgate out, which in an image would
// be a known working password on every deployment that forgot to change it.
func TestImageConfigSeedsNoUserAndLoads(t *testing.T) {
	b, err := os.ReadFile("gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"password_hash", "$argon2", "$2a$", "$2b$", "$2y$", "seed:", "change-me-now", "alice-password"} {
		if strings.Contains(string(b), bad) {
			t.Errorf("docker/gateway.yaml contains %q", bad)
		}
	}
	t.Setenv("AUTHGATE_DATA_DIR", t.TempDir())
	t.Setenv("AUTHGATE_UPSTREAM", "http://app:9000")
	cfg, err := config.Load("gateway.yaml")
	if err != nil {
		t.Fatalf("the image config does not load: %v", err)
	}
	if len(cfg.Users.Seed) != 0 || cfg.Users.Registration {
		t.Errorf("the image config creates users: seed %d, registration %v", len(cfg.Users.Seed), cfg.Users.Registration)
	}
	if cfg.Upstreams.Default != "http://app:9000" || cfg.Listen != ":8080" {
		t.Errorf("upstream %q, listen %q", cfg.Upstreams.Default, cfg.Listen)
	}
	// Without AUTHGATE_UPSTREAM the container must stop with a clear
	// message instead of proxying to a default.
	os.Unsetenv("AUTHGATE_UPSTREAM")
	if _, err := config.Load("gateway.yaml"); err == nil || !strings.Contains(err.Error(), "AUTHGATE_UPSTREAM") {
		t.Errorf("loads without AUTHGATE_UPSTREAM: %v", err)
	}
}
