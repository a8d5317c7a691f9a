package gateway

import (
	"strings"
	"testing"
	"time"

	"authgate/store/redistest"
)

// rotateCommand is what the proxy looks for to lose the reply of the
// rotate script: a script call (EVALSHA, or EVAL after NOSCRIPT) naming a
// session's key.
var rotateCommand = []string{"eval", "}:session"}

// TestALostRotateReplyDoesNotLogTheUserOut: a TCP proxy between authgate
// and a private Redis loses the reply to every rotate script. go-redis runs
// the script again (EOF is retryable); the retry must give the outcome of
// the rotation it repeats, not a reuse that revokes the session (issue 8,
// item 1). With the replay window off too: a retry of our own making is no
// second presentation.
func TestALostRotateReplyDoesNotLogTheUserOut(t *testing.T) {
	for _, grace := range []string{"30s", "0s"} {
		t.Run("refresh_reuse_grace "+grace, func(t *testing.T) {
			srv := redistest.Start(t)
			px := redistest.StartProxy(t, srv.Addr())
			e := envsWith(t, 1, `url: "`+px.URL()+`"`, withGrace(grace))[0]
			e.addUser("alice", "alice-password-1", "user")
			access, refresh := e.login("alice", "alice-password-1")
			seen := []string{access}
			const rounds = 5
			for i := range rounds {
				px.LoseReplies(1, nil, rotateCommand...)
				r := e.do("POST", "/auth/refresh", `{"refresh_token":"`+refresh+`"}`)
				if r.status != 200 {
					t.Fatalf("refresh %d with its reply lost: %d %s", i, r.status, r.body)
				}
				if lost := px.Lost(); lost != i+1 {
					t.Fatalf("the proxy lost %d replies, want %d: the fault was not injected", lost, i+1)
				}
				m := r.json(t)
				access, refresh = m["access_token"].(string), m["refresh_token"].(string)
				seen = append(seen, access)
			}
			for _, tok := range seen {
				wantStatusSoon(t, e, tok, 200)
			}
			e.refresh(refresh)
		})
	}
}

// TestARefreshAnswered503WhileRedisDiedIsRepairedByItsRetry: Redis (with
// an fsync-always AOF, so what it acknowledged survives) is killed right
// after it ran the rotate script and before its reply reached authgate.
// go-redis's retries find no Redis: the client gets 503. Once Redis is
// back, the client's retry with the same token must get a valid pair, not
// a revoked session (issue 8, item 2).
func TestARefreshAnswered503WhileRedisDiedIsRepairedByItsRetry(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	px := redistest.StartProxy(t, srv.Addr())
	e := envsWith(t, 1, `url: "`+px.URL()+`"`, nil)[0]
	e.addUser("alice", "alice-password-1", "user")
	access, refresh := e.login("alice", "alice-password-1")
	body := `{"refresh_token":"` + refresh + `"}`

	px.LoseReplies(1, srv.Stop, rotateCommand...)
	r := e.do("POST", "/auth/refresh", body)
	if r.status != 503 || r.problemType(t) != "store-unavailable" {
		t.Fatalf("refresh while Redis died: %d %s, want 503 store-unavailable", r.status, r.body)
	}
	if px.Lost() != 1 {
		t.Fatal("the fault was not injected")
	}
	srv.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r = e.do("POST", "/auth/refresh", body)
		if r.status != 503 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r.status != 200 {
		t.Fatalf("the client's retry after Redis came back: %d %s, want 200", r.status, r.body)
	}
	m := r.json(t)
	wantStatusSoon(t, e, m["access_token"].(string), 200)
	wantStatusSoon(t, e, access, 200)
	e.refresh(m["refresh_token"].(string))
}

// wantStatusSoon fails unless GET /me with tok answers want within a few
// seconds (an instance answers 503 until its lease is back after Redis
// returned).
func wantStatusSoon(t *testing.T, e *testEnv, tok string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.do("GET", "/me", "", bearer(tok)...)
		if r.status == want {
			return
		}
		if r.status != 503 || time.Now().After(deadline) {
			t.Fatalf("GET /me: %d %s, want %d", r.status, r.body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLostCounterRepliesDoNotLockAUserOutEarly: with lockout after 3
// failed logins, two failures whose counting replies are lost (go-redis
// then runs the counting script again) leave the account open: each
// failure counts once.
func TestLostCounterRepliesDoNotLockAUserOutEarly(t *testing.T) {
	srv := redistest.Start(t)
	px := redistest.StartProxy(t, srv.Addr())
	e := envsWith(t, 1, `url: "`+px.URL()+`"`, func(y string) string {
		return strings.Replace(y, `refresh_per_ip: "1000-M"`, `refresh_per_ip: "1000-M"`+"\n  lockout_failures: 3", 1)
	})[0]
	e.addUser("alice", "alice-password-1", "user")
	for i := range 2 {
		px.LoseReplies(1, nil, "eval", "fail:alice")
		if r := e.do("POST", "/auth", `{"username":"alice","password":"wrong-password-1"}`); r.status != 401 {
			t.Fatalf("failed login %d: %d %s", i+1, r.status, r.body)
		}
		if px.Lost() != i+1 {
			t.Fatal("the fault was not injected")
		}
	}
	if r := e.do("POST", "/auth", `{"username":"alice","password":"alice-password-1"}`); r.status != 200 {
		t.Fatalf("login after 2 failures (lockout at 3): %d %s", r.status, r.body)
	}
}
