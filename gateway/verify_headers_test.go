package gateway

import (
	"strings"
	"testing"
)

// A proxy sets one header family and passes the client's others on: a
// request with both is refused, never decided on the client's.
func TestForwardAuthRefusesMixedHeaderFamilies(t *testing.T) {
	e := newEnv(t, func(y string) string {
		return strings.Replace(y, `trusted_proxies: ["10.0.0.0/8"]`, `trusted_proxies: ["0.0.0.0/32"]`, 1)
	})
	e.addUser("alice", "alice-password-1", "user")
	tok, _ := e.login("alice", "alice-password-1")
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
	}{
		{"client X-Original-URI behind Caddy/Traefik", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin/x", "X-Original-URI", "/public/x"}, 400},
		{"client X-Original-Method behind Caddy/Traefik", []string{"X-Forwarded-Method", "DELETE", "X-Forwarded-Uri", "/api/x", "X-Original-Method", "GET"}, 400},
		{"client X-Forwarded-Uri behind nginx", []string{"X-Original-Method", "GET", "X-Original-URI", "/admin/x", "X-Forwarded-Uri", "/public/x"}, 400},
		{"nginx family alone", []string{"X-Original-Method", "GET", "X-Original-URI", "/admin/x"}, 403},
		{"forwarded family alone", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin/x"}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/auth/verify", "", append(bearer(tok), tc.headers...)...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
		})
	}
}
