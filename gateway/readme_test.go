package gateway

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// The README's error catalogue is part of the contract: every problem type
// the gateway can answer must be listed there with its status.
func TestREADMEListsEveryProblemType(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, p := range Catalogue {
		row := "| `" + p.Slug + "` | " + strconv.Itoa(p.Status) + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the catalogue row %q", row)
		}
	}
}

// The README's proxy examples are the files the nginx, Caddy and Traefik
// tests run, word for word.
func TestREADMEShowsTheTestedProxyConfigs(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"nginx.conf", "Caddyfile", "traefik-dynamic.yaml"} {
		ex, err := os.ReadFile("../examples/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), string(ex)) {
			t.Errorf("README does not show examples/%s as it is", f)
		}
	}
}
