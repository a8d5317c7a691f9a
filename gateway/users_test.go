package gateway

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"authgate/store"
)

// adminEnv has an admin "root" (logged in) and a user "alice".
type adminEnv struct {
	*testEnv
	rec   *recordingMailer
	admin string // access token of root
	root  string // root's ID
	alice string // alice's ID
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	e, rec := newAccountEnv(t, "")
	root := e.addUser("root", "root-password-1", "admin")
	alice := e.addUser("alice", "alice-password-1", "user", "ops")
	tok, _ := e.login("root", "root-password-1")
	return &adminEnv{testEnv: e, rec: rec, admin: tok, root: root.ID, alice: alice.ID}
}

func (a *adminEnv) as(method, target, body string) resp {
	a.t.Helper()
	return a.do(method, target, body, bearer(a.admin)...)
}

// tokenRoles reads the roles claim of an access token (no verification:
// the gateway verified it when it issued it).
func tokenRoles(t *testing.T, tok string) []string {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Roles
}

func TestAdminRoutesRequireTheAdminRole(t *testing.T) {
	a := newAdminEnv(t)
	user, _ := a.login("alice", "alice-password-1")
	for _, rt := range []struct{ method, target, body string }{
		{"GET", "/auth/users", ""},
		{"POST", "/auth/users", jsonBody("username", "mallory", "password", "mallory-password-1")},
		{"GET", "/auth/users/" + a.alice, ""},
		{"PATCH", "/auth/users/" + a.alice, `{"roles":["admin"]}`},
		{"DELETE", "/auth/users/" + a.root, ""},
	} {
		name := rt.method + " " + rt.target
		mustStatus(t, name+" without token", a.do(rt.method, rt.target, rt.body), 401, "unauthenticated")
		mustStatus(t, name+" as a user", a.do(rt.method, rt.target, rt.body, bearer(user)...), 403, "forbidden")
	}
	u, _ := a.st.GetUser(t.Context(), a.alice)
	if slices.Contains(u.Roles, "admin") {
		t.Fatal("a non-admin granted itself admin")
	}
	if _, err := a.st.GetUserByUsername(t.Context(), "mallory"); err == nil {
		t.Fatal("a non-admin created a user")
	}
}

func TestAdminCreatesReadsAndDeletesUsers(t *testing.T) {
	a := newAdminEnv(t)
	r := a.as("POST", "/auth/users", `{"username":"dave","email":"dave@example.com","password":"dave-password-1","roles":["ops","ops","qa"],"must_change_password":true,"email_verified":true}`)
	mustStatus(t, "create", r, 201, "")
	m := r.json(t)
	id, _ := m["id"].(string)
	if loc := r.header.Get("Location"); loc != "/auth/users/"+id || id == "" {
		t.Errorf("Location %q for id %q", loc, id)
	}
	if roles, _ := m["roles"].([]any); fmt.Sprint(roles) != "[ops qa]" {
		t.Errorf("roles %v, want [ops qa]", m["roles"])
	}
	if m["active"] != true || m["must_change_password"] != true || m["email_verified"] != true || strings.Contains(string(r.body), "argon2") {
		t.Errorf("created %s", r.body)
	}
	lr := a.do("POST", "/auth", jsonBody("username", "dave", "password", "dave-password-1"))
	if mustStatus(t, "login", lr, 200, ""); lr.json(t)["change_password"] != true {
		t.Errorf("login of a must-change user: %s", lr.body)
	}

	r = a.as("POST", "/auth/users", `{"username":"erin","password":"erin-password-1","active":false}`)
	mustStatus(t, "create without email and roles", r, 201, "")
	if m := r.json(t); fmt.Sprint(m["roles"]) != "[user]" || m["active"] != false || m["email"] != "" || m["email_verified"] != false {
		t.Errorf("defaults: %s", r.body)
	}
	mustStatus(t, "inactive user login", a.do("POST", "/auth", jsonBody("username", "erin", "password", "erin-password-1")), 401, "invalid-credentials")
	if a.rec.count() != 0 {
		t.Error("admin creation sent mail")
	}

	for _, tc := range []struct{ name, body, slug, field string }{
		{"taken username", jsonBody("username", "DAVE", "password", "long-enough-1"), "username-taken", "username"},
		{"taken email", jsonBody("username", "dave2", "email", "Dave@example.com", "password", "long-enough-1"), "email-taken", "email"},
		{"bad role", `{"username":"x1","password":"long-enough-1","roles":["ok","a,b"]}`, "validation", "roles[1]"},
		{"empty role", `{"username":"x2","password":"long-enough-1","roles":[""]}`, "validation", "roles[0]"},
		{"weak password", jsonBody("username", "x3", "password", "x3"), "weak-password", "password"},
		{"bad username", jsonBody("username", "", "password", "long-enough-1"), "validation", "username"},
		{"bad email", jsonBody("username", "x4", "email", "x4", "password", "long-enough-1"), "validation", "email"},
	} {
		r := a.as("POST", "/auth/users", tc.body)
		mustStatus(t, tc.name, r, 400, tc.slug)
		if r.json(t)["field"] != tc.field {
			t.Errorf("%s: field %v, want %s", tc.name, r.json(t)["field"], tc.field)
		}
	}

	r = a.as("GET", "/auth/users/"+id, "")
	mustStatus(t, "get", r, 200, "")
	if r.json(t)["username"] != "dave" {
		t.Errorf("get: %s", r.body)
	}
	mustStatus(t, "get unknown", a.as("GET", "/auth/users/no-such-id", ""), 404, "not-found")
	mustStatus(t, "patch unknown", a.as("PATCH", "/auth/users/no-such-id", `{"active":false}`), 404, "not-found")
	mustStatus(t, "delete unknown", a.as("DELETE", "/auth/users/no-such-id", ""), 404, "not-found")
	put := a.as("PUT", "/auth/users/"+id, `{}`)
	mustStatus(t, "put", put, 405, "method-not-allowed")
	if put.header.Get("Allow") != "GET, PATCH, DELETE" {
		t.Errorf("Allow %q", put.header.Get("Allow"))
	}
	mustStatus(t, "nested path", a.as("GET", "/auth/users/"+id+"/x", ""), 403, "denied")

	if _, err := a.st.PutSecondFactors(t.Context(), store.SecondFactors{UserID: id, RecoveryHashes: []string{"h"}}); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, "delete", a.as("DELETE", "/auth/users/"+id, ""), 204, "")
	mustStatus(t, "get deleted", a.as("GET", "/auth/users/"+id, ""), 404, "not-found")
	mustStatus(t, "delete again", a.as("DELETE", "/auth/users/"+id, ""), 404, "not-found")
	if _, err := a.st.GetUserByUsername(t.Context(), "dave"); err == nil {
		t.Error("deleted user still in the store")
	}
	if f, err := a.st.GetSecondFactors(t.Context(), id); err != nil || f.Version != 0 {
		t.Errorf("deleted user's second factors: %+v, %v; want none", f, err)
	}
}

func TestAdminListsUsersPageByPage(t *testing.T) {
	a := newAdminEnv(t)
	for i := range 5 {
		a.addUser(fmt.Sprintf("user%d", i), "user-password-1")
	}
	var ids []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		r := a.as("GET", "/auth/users?limit=2&after="+after, "")
		mustStatus(t, "list", r, 200, "")
		var page struct {
			Users []map[string]any `json:"users"`
			Next  *string          `json:"next"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil || page.Next == nil {
			t.Fatalf("page %s: %v", r.body, err)
		}
		if len(page.Users) > 2 {
			t.Fatalf("%d users on a page of 2", len(page.Users))
		}
		for _, u := range page.Users {
			ids = append(ids, u["id"].(string))
			if _, ok := u["password_hash"]; ok {
				t.Fatal("list shows password hashes")
			}
		}
		if *page.Next == "" {
			break
		}
		after = *page.Next
	}
	if len(ids) != 7 || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != 7 {
		t.Errorf("listed %d ids (want 7, sorted, unique): %v", len(ids), ids)
	}
	r := a.as("GET", "/auth/users", "")
	if m := r.json(t); len(m["users"].([]any)) != 7 || m["next"] != "" {
		t.Errorf("default page: %s", r.body)
	}
	if r := a.as("GET", "/auth/users?limit=100000", ""); r.status != 200 || len(r.json(t)["users"].([]any)) != 7 {
		t.Errorf("large limit not capped: %d %s", r.status, r.body)
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "after=" + strings.Repeat("x", 300)} {
		mustStatus(t, q, a.as("GET", "/auth/users?"+q, ""), 400, "validation")
	}
}

func TestDeactivationAndDeletionRefuseTokensOnTheNextRequest(t *testing.T) {
	for _, tc := range []struct {
		name, method, body string
	}{
		{"deactivate", "PATCH", `{"active":false}`},
		{"delete", "DELETE", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAdminEnv(t)
			access, refresh := a.login("alice", "alice-password-1")
			mustStatus(t, "before", a.do("GET", "/api/x", "", bearer(access)...), 200, "")
			r := a.as(tc.method, "/auth/users/"+a.alice, tc.body)
			if r.status != 200 && r.status != 204 {
				t.Fatalf("%s: %d %s", tc.name, r.status, r.body)
			}
			mustStatus(t, "proxied", a.do("GET", "/api/x", "", bearer(access)...), 401, "invalid-token")
			mustStatus(t, "me", a.do("GET", "/me", "", bearer(access)...), 401, "invalid-token")
			mustStatus(t, "refresh", a.do("POST", "/auth/refresh", jsonBody("refresh_token", refresh)), 401, "invalid-refresh-token")
			mustStatus(t, "login", a.do("POST", "/auth", jsonBody("username", "alice", "password", "alice-password-1")), 401, "invalid-credentials")
			mustStatus(t, "admin unaffected", a.as("GET", "/auth/users", ""), 200, "")
		})
	}
}

func TestRoleRemovalEndsSessionsButRoleAdditionDoesNot(t *testing.T) {
	a := newAdminEnv(t)
	access, refresh := a.login("alice", "alice-password-1")
	r := a.as("PATCH", "/auth/users/"+a.alice, `{"roles":["user","ops","admin"]}`)
	mustStatus(t, "add role", r, 200, "")
	mustStatus(t, "token after adding", a.do("GET", "/me", "", bearer(access)...), 200, "")
	rr := a.do("POST", "/auth/refresh", jsonBody("refresh_token", refresh))
	mustStatus(t, "refresh after adding", rr, 200, "")
	access = rr.json(t)["access_token"].(string)
	if roles := tokenRoles(t, access); fmt.Sprint(roles) != "[user ops admin]" {
		t.Errorf("refreshed token roles %v", roles)
	}
	mustStatus(t, "new admin lists", a.do("GET", "/auth/users", "", bearer(access)...), 200, "")

	mustStatus(t, "remove roles", a.as("PATCH", "/auth/users/"+a.alice, `{"roles":["user"]}`), 200, "")
	mustStatus(t, "token after removal", a.do("GET", "/auth/users", "", bearer(access)...), 401, "invalid-token")
	access, _ = a.login("alice", "alice-password-1")
	if roles := tokenRoles(t, access); fmt.Sprint(roles) != "[user]" {
		t.Errorf("roles after removal %v", roles)
	}
	mustStatus(t, "verifying the email keeps sessions", a.as("PATCH", "/auth/users/"+a.alice, `{"email_verified":false}`), 200, "")
	mustStatus(t, "token after email flag", a.do("GET", "/me", "", bearer(access)...), 200, "")
}

func TestAdminSettingAPasswordEndsTheUsersSessions(t *testing.T) {
	a := newAdminEnv(t)
	access, _ := a.login("alice", "alice-password-1")
	for _, tc := range []struct{ name, body, slug string }{
		{"nothing to change", `{}`, "validation"},
		{"unknown fields only", `{"username":"x"}`, "validation"},
		{"weak password", jsonBody("password", "ALICE"), "weak-password"},
		{"bad role", `{"roles":["a b"]}`, "validation"},
		{"wrong type", `{"active":"no"}`, "validation"},
	} {
		mustStatus(t, tc.name, a.as("PATCH", "/auth/users/"+a.alice, tc.body), 400, tc.slug)
	}
	mustStatus(t, "refused patches kept the session", a.do("GET", "/me", "", bearer(access)...), 200, "")
	r := a.as("PATCH", "/auth/users/"+a.alice, `{"password":"temporary-pw-1","must_change_password":true}`)
	mustStatus(t, "set password", r, 200, "")
	if r.json(t)["must_change_password"] != true {
		t.Errorf("patched %s", r.body)
	}
	mustStatus(t, "old token", a.do("GET", "/me", "", bearer(access)...), 401, "invalid-token")
	mustStatus(t, "old password", a.do("POST", "/auth", jsonBody("username", "alice", "password", "alice-password-1")), 401, "")
	lr := a.do("POST", "/auth", jsonBody("username", "alice", "password", "temporary-pw-1"))
	if mustStatus(t, "new password", lr, 200, ""); lr.json(t)["change_password"] != true {
		t.Errorf("login: %s", lr.body)
	}
}

func TestAdminCannotLockThemselvesOut(t *testing.T) {
	a := newAdminEnv(t)
	other, _ := a.login("root", "root-password-1")
	for _, tc := range []struct{ name, method, body, field string }{
		{"deactivate self", "PATCH", `{"active":false}`, "active"},
		{"drop own admin role", "PATCH", `{"roles":["user"]}`, "roles"},
		{"delete self", "DELETE", "", ""},
	} {
		r := a.as(tc.method, "/auth/users/"+a.root, tc.body)
		mustStatus(t, tc.name, r, 400, "validation")
		if f, _ := r.json(t)["field"].(string); f != tc.field {
			t.Errorf("%s: field %q", tc.name, f)
		}
	}
	mustStatus(t, "set own password", a.as("PATCH", "/auth/users/"+a.root, jsonBody("password", "root-password-2")), 200, "")
	mustStatus(t, "own session kept", a.as("GET", "/auth/users", ""), 200, "")
	mustStatus(t, "own other session ended", a.do("GET", "/auth/users", "", bearer(other)...), 401, "invalid-token")
}

// The must-change flow end to end: the admin sets the flag, the user's
// token is good only for /me, logout and the password change; a refresh
// after the change gives a full token.
func TestMustChangePasswordFlow(t *testing.T) {
	a := newAdminEnv(t)
	before, _ := a.login("alice", "alice-password-1")
	mustStatus(t, "set flag", a.as("PATCH", "/auth/users/"+a.alice, `{"must_change_password":true}`), 200, "")
	mustStatus(t, "token from before the flag", a.do("GET", "/me", "", bearer(before)...), 401, "invalid-token")

	lr := a.do("POST", "/auth", jsonBody("username", "alice", "password", "alice-password-1"))
	mustStatus(t, "login", lr, 200, "")
	m := lr.json(t)
	if m["change_password"] != true {
		t.Fatalf("login: %s", lr.body)
	}
	access, refresh := m["access_token"].(string), m["refresh_token"].(string)
	mustStatus(t, "proxied", a.do("GET", "/api/x", "", bearer(access)...), 403, "password-change-required")
	mustStatus(t, "patch me", a.do("PATCH", "/me", jsonBody("username", "alicia"), bearer(access)...), 403, "password-change-required")
	me := a.do("GET", "/me", "", bearer(access)...)
	if mustStatus(t, "me", me, 200, ""); me.json(t)["must_change_password"] != true {
		t.Errorf("me: %s", me.body)
	}
	mustStatus(t, "change", a.do("POST", "/auth/password", jsonBody("current_password", "alice-password-1", "new_password", "alice-password-2"), bearer(access)...), 204, "")
	// The token in hand still says pwc until it is refreshed.
	mustStatus(t, "proxied with the old must-change token", a.do("GET", "/api/x", "", bearer(access)...), 403, "password-change-required")
	rr := a.do("POST", "/auth/refresh", jsonBody("refresh_token", refresh))
	mustStatus(t, "refresh", rr, 200, "")
	if _, ok := rr.json(t)["change_password"]; ok {
		t.Errorf("refresh after the change still says change_password: %s", rr.body)
	}
	full := rr.json(t)["access_token"].(string)
	mustStatus(t, "proxied with the refreshed token", a.do("GET", "/api/x", "", bearer(full)...), 200, "")
	mustStatus(t, "patch me with the refreshed token", a.do("PATCH", "/me", jsonBody("username", "alicia"), bearer(full)...), 200, "")
}
