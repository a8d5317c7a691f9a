package gateway

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// The error catalogue (docs/errors.md) is part of the contract: every problem
// type the gateway can answer must be listed there with its status.
func TestDocsListEveryProblemType(t *testing.T) {
	b, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, p := range Catalogue {
		row := "| `" + p.Slug + "` | " + strconv.Itoa(p.Status) + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("docs/errors.md lacks the catalogue row %q", row)
		}
	}
}

// The forward-auth page's proxy examples (docs/forward-auth.md) are the files
// the nginx, Caddy and Traefik tests run, word for word.
func TestDocsShowTheTestedProxyConfigs(t *testing.T) {
	b, err := os.ReadFile("../docs/forward-auth.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"nginx.conf", "Caddyfile", "traefik-dynamic.yaml"} {
		ex, err := os.ReadFile("../examples/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), string(ex)) {
			t.Errorf("docs/forward-auth.md does not show examples/%s as it is", f)
		}
	}
}
