package gateway

import (
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"authgate/config"
)

// traefikDynamic is the part of Traefik's dynamic configuration that
// examples/traefik-dynamic.yaml uses; decoding is strict, so a misspelt key
// in the example fails the test.
type traefikDynamic struct {
	HTTP struct {
		Routers map[string]struct {
			EntryPoints []string `yaml:"entryPoints"`
			Rule        string   `yaml:"rule"`
			Priority    int      `yaml:"priority"`
			Middlewares []string `yaml:"middlewares"`
			Service     string   `yaml:"service"`
		} `yaml:"routers"`
		Middlewares map[string]struct {
			ForwardAuth *struct {
				Address             string   `yaml:"address"`
				TrustForwardHeader  bool     `yaml:"trustForwardHeader"`
				AuthRequestHeaders  []string `yaml:"authRequestHeaders"`
				AuthResponseHeaders []string `yaml:"authResponseHeaders"`
			} `yaml:"forwardAuth"`
			Headers *struct {
				CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
			} `yaml:"headers"`
		} `yaml:"middlewares"`
		Services map[string]struct {
			LoadBalancer struct {
				PassHostHeader bool `yaml:"passHostHeader"`
				Servers        []struct {
					URL string `yaml:"url"`
				} `yaml:"servers"`
			} `yaml:"loadBalancer"`
		} `yaml:"services"`
	} `yaml:"http"`
}

// TestTraefikExampleParses checks examples/traefik-dynamic.yaml without a
// Traefik (not in Debian): it renders, parses strictly as YAML, and wires the
// forwardAuth middleware to authgate with the identity headers authgate sends
// by default. Its behaviour in a real Traefik is untested.
func TestTraefikExampleParses(t *testing.T) {
	y := renderExample(t, "traefik-dynamic.yaml", map[string]string{"AUTHGATE": "authgate:8080", "UPSTREAM": "app:9000"})
	var d traefikDynamic
	dec := yaml.NewDecoder(strings.NewReader(y))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("traefik-dynamic.yaml: %v", err)
	}
	var defaults config.Config
	config.ApplyDefaults(&defaults)
	ih := defaults.IdentityHeaders
	identity := []string{ih.UserID, ih.Name, ih.Email, ih.Roles}

	fa := d.HTTP.Middlewares["authgate"].ForwardAuth
	if fa == nil {
		t.Fatal("no forwardAuth middleware named authgate")
	}
	if fa.Address != "http://authgate:8080/auth/verify" || defaults.Routes.Verify != "/auth/verify" {
		t.Errorf("forwardAuth address %q (verify route %q)", fa.Address, defaults.Routes.Verify)
	}
	if !fa.TrustForwardHeader {
		t.Error("trustForwardHeader is not true")
	}
	if !slices.Equal(fa.AuthResponseHeaders, identity) {
		t.Errorf("authResponseHeaders %v, want authgate's identity headers %v", fa.AuthResponseHeaders, identity)
	}
	if !slices.Contains(fa.AuthRequestHeaders, "Authorization") {
		t.Errorf("authRequestHeaders %v do not pass the bearer token", fa.AuthRequestHeaders)
	}
	for _, h := range fa.AuthRequestHeaders {
		if l := strings.ToLower(h); strings.HasPrefix(l, "x-original-") || strings.HasPrefix(l, "x-forwarded-") || strings.HasPrefix(l, "x-user-") {
			t.Errorf("authRequestHeaders pass the client's %s to authgate", h)
		}
	}

	strip := d.HTTP.Middlewares["authgate-strip"].Headers
	if strip == nil {
		t.Fatal("no headers middleware named authgate-strip")
	}
	for _, h := range identity {
		u := strings.ReplaceAll(h, "-", "_")
		if v, ok := strip.CustomRequestHeaders[u]; !ok || v != "" {
			t.Errorf("authgate-strip does not remove %s", u)
		}
	}

	app := d.HTTP.Routers["app"]
	if app.Service != "app" || app.Rule != "PathPrefix(`/`)" {
		t.Errorf("app router: %+v", app)
	}
	if i, j := slices.Index(app.Middlewares, "authgate-strip"), slices.Index(app.Middlewares, "authgate"); i < 0 || j < 0 || i > j {
		t.Errorf("app router middlewares %v: want authgate-strip before authgate", app.Middlewares)
	}
	own := d.HTTP.Routers["authgate"]
	if own.Service != "authgate" || !strings.Contains(own.Rule, "!Path(`"+defaults.Routes.Verify+"`)") || own.Priority <= app.Priority {
		t.Errorf("authgate router must take the own routes but not %s: %+v", defaults.Routes.Verify, own)
	}
	for name, r := range d.HTTP.Routers {
		if _, ok := d.HTTP.Services[r.Service]; !ok {
			t.Errorf("router %s: no service %q", name, r.Service)
		}
		for _, m := range r.Middlewares {
			if _, ok := d.HTTP.Middlewares[m]; !ok {
				t.Errorf("router %s: no middleware %q", name, m)
			}
		}
	}
	for name, want := range map[string]string{"authgate": "http://authgate:8080", "app": "http://app:9000"} {
		s := d.HTTP.Services[name].LoadBalancer.Servers
		if len(s) != 1 || s[0].URL != want {
			t.Errorf("service %s servers %+v, want %s", name, s, want)
		}
	}
}
