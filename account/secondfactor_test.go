package account

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authgate/audit"
	"authgate/auth"
	"authgate/config"
	"authgate/mfa"
	"authgate/mfa/mfatest"
	"authgate/store"
	"authgate/store/memstore"
)

const mfaTestKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sfEnv is an account service on a memory store with second factors on.
type sfEnv struct {
	t     *testing.T
	svc   *Service
	st    *memstore.Store
	clk   *testClock
	audit *bytes.Buffer
	ctx   context.Context
}

const (
	testPassword = "correct horse battery"
	testOrigin   = "https://gw.example.com"
)

func newSFEnv(t *testing.T, mutate ...func(*config.Config)) *sfEnv {
	t.Helper()
	cfg := &config.Config{}
	cfg.MFA = config.MFA{Enabled: true, EncryptionKey: mfaTestKey, RequiredRoles: []string{"admin"},
		WebAuthn: config.MFAPasskey{Origins: []string{testOrigin}}}
	cfg.Passwords = config.Passwords{Memory: 1024, Iterations: 1, Parallelism: 1}
	cfg.RateLimits.SecondFactorPerUser = "off"
	cfg.RateLimits.LoginPerUsername = "off"
	for _, m := range mutate {
		m(cfg)
	}
	config.ApplyDefaults(cfg)
	if ps := config.Validate(cfg); ps.HasErrors() {
		t.Fatal(ps)
	}
	st := memstore.New()
	keys, err := auth.LoadKeys(cfg.Tokens, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sessions := auth.NewSessions(st, auth.NewTokens(cfg.Tokens, keys), auth.NewRevocations(), cfg.Tokens)
	// A clock in the middle of a TOTP step, near the real time (tokens are
	// issued on the real clock).
	now := time.Now().Truncate(30 * time.Second).Add(15 * time.Second)
	clk := &testClock{t: now}
	var buf bytes.Buffer
	svc, err := New(cfg, st, auth.NewHasher(cfg.Passwords), sessions, Options{Now: clk.Now, Audit: audit.New(&buf, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return &sfEnv{t: t, svc: svc, st: st, clk: clk, audit: &buf, ctx: context.Background()}
}

func (e *sfEnv) user(name string, roles ...string) store.User {
	e.t.Helper()
	h, err := auth.NewHasher(e.svc.cfg.Passwords).Hash(e.ctx, testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	u := store.User{ID: "id-" + name, Username: name, PasswordHash: h, Roles: roles, Active: true, EmailVerified: true}
	if err := e.st.CreateUser(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *sfEnv) signIn(u store.User) auth.Pair {
	e.t.Helper()
	p, _, err := e.svc.SignIn(e.ctx, Login{Username: u.Username, Password: testPassword}, Client{IP: "192.0.2.1"})
	if err != nil {
		e.t.Fatalf("sign in %s: %v", u.Username, err)
	}
	return p
}

// enrolTOTP gives u a TOTP through a full session and returns its secret
// and recovery codes; the clock is then moved past the confirming step.
func (e *sfEnv) enrolTOTP(u store.User) (string, []string) {
	e.t.Helper()
	p := e.signIn(u)
	en, err := e.svc.BeginTOTP(e.ctx, p.Claims)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.svc.ConfirmTOTP(e.ctx, p.Claims, e.code(en.Secret, 0), Client{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.clk.Add(3 * time.Minute)
	return en.Secret, res.RecoveryCodes
}

func (e *sfEnv) code(secret string, offset time.Duration) string {
	e.t.Helper()
	c, err := mfa.TOTPCode(secret, e.clk.Now().Add(offset))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *sfEnv) sessions(userID string) []string {
	e.t.Helper()
	sids, err := e.st.UserSessions(e.ctx, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return sids
}

// events returns the audit events of type typ.
func (e *sfEnv) events(typ string) []audit.Event {
	var out []audit.Event
	for _, l := range strings.Split(strings.TrimSpace(e.audit.String()), "\n") {
		var ev audit.Event
		if json.Unmarshal([]byte(l), &ev) == nil && ev.Event == typ {
			out = append(out, ev)
		}
	}
	return out
}

func wantKind(t *testing.T, err error, k Kind) {
	t.Helper()
	e, ok := AsError(err)
	if !ok || e.Kind != k {
		t.Fatalf("err = %v (%T), want kind %d", err, err, k)
	}
}

func TestSignInDecidesTheStep(t *testing.T) {
	tests := []struct {
		name     string
		roles    []string
		enrolled bool
		mfaOff   bool
		want     string
	}{
		{"no factor, no required role: full", []string{"user"}, false, false, ""},
		{"a factor: second step", []string{"user"}, true, false, auth.StepVerify},
		{"a required role without a factor: enrol", []string{"user", "admin"}, false, false, auth.StepEnrol},
		{"a required role with a factor: second step", []string{"admin"}, true, false, auth.StepVerify},
		{"mfa off: full", []string{"admin"}, false, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSFEnv(t, func(c *config.Config) { c.MFA.Enabled = !tt.mfaOff })
			u := e.user("alice", tt.roles...)
			if tt.enrolled {
				e.enrolTOTP(u)
			}
			p := e.signIn(u)
			if p.Claims.Step != tt.want || !slices.Equal(p.Claims.AMR, []string{"pwd"}) {
				t.Errorf("step %q amr %v, want %q [pwd]", p.Claims.Step, p.Claims.AMR, tt.want)
			}
			if tt.want != "" && p.ExpiresIn > int(auth.RestrictedTTL/time.Second) {
				t.Errorf("a restricted token lives %ds", p.ExpiresIn)
			}
			pv, err := e.svc.SignInVerified(e.ctx, u, "provider:test", Client{IP: "192.0.2.1"})
			if err != nil || pv.Claims.Step != tt.want || !slices.Equal(pv.Claims.AMR, []string{"fed"}) {
				t.Errorf("provider sign-in: step %q amr %v, %v", pv.Claims.Step, pv.Claims.AMR, err)
			}
		})
	}
}

func TestSecondStep(t *testing.T) {
	e := newSFEnv(t)
	u := e.user("alice")
	secret, codes := e.enrolTOTP(u)

	type try struct {
		proof func() mfa.Proof
		kind  Kind // 0: success
	}
	totp := func(off time.Duration) func() mfa.Proof {
		return func() mfa.Proof { return mfa.Proof{Method: mfa.MethodTOTP, Code: e.code(secret, off)} }
	}
	recovery := func(i int) func() mfa.Proof {
		return func() mfa.Proof { return mfa.Proof{Method: mfa.MethodRecoveryCode, Code: codes[i]} }
	}
	tests := []struct {
		name  string
		tries []try
	}{
		{"a TOTP code", []try{{totp(0), 0}}},
		{"the same code in a second sign-in is a replay", []try{{totp(0), 0}, {totp(0), KindSecondFactorInvalid}}},
		{"an earlier step after a later one is a replay", []try{{totp(30 * time.Second), 0}, {totp(0), KindSecondFactorInvalid}}},
		{"a wrong code", []try{{func() mfa.Proof { return mfa.Proof{Method: mfa.MethodTOTP, Code: "000000"} }, KindSecondFactorInvalid}}},
		{"a recovery code once, not twice", []try{{recovery(0), 0}, {recovery(0), KindSecondFactorInvalid}}},
		{"a passkey never registered", []try{{func() mfa.Proof { return mfa.Proof{Method: mfa.MethodPasskey, Credential: []byte("{}")} }, KindNotEnrolled}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clk.Add(3 * time.Minute) // every case starts on unused steps
			for i, tr := range tt.tries {
				p := e.signIn(u)
				if p.Claims.Step != auth.StepVerify {
					t.Fatalf("step %q", p.Claims.Step)
				}
				full, err := e.svc.SecondFactor(e.ctx, p.Claims, tr.proof(), Client{IP: "192.0.2.1"})
				if tr.kind != 0 {
					wantKind(t, err, tr.kind)
					if !slices.Contains(e.sessions(u.ID), p.Claims.SessionID) {
						t.Errorf("try %d: a failed second step ended the restricted session", i)
					}
					continue
				}
				if err != nil {
					t.Fatalf("try %d: %v", i, err)
				}
				c := full.Claims
				if c.Step != "" || len(c.AMR) != 2 || c.AMR[0] != "pwd" || !c.HasSecondFactor() ||
					c.AuthTime == nil || !c.AuthTime.Time.Equal(e.clk.Now().Truncate(time.Second)) {
					t.Errorf("try %d: claims after the second step: step %q amr %v auth_time %v", i, c.Step, c.AMR, c.AuthTime)
				}
				if c.SessionID == p.Claims.SessionID || slices.Contains(e.sessions(u.ID), p.Claims.SessionID) ||
					!slices.Contains(e.sessions(u.ID), c.SessionID) {
					t.Errorf("try %d: the restricted session was not replaced by a new one", i)
				}
			}
		})
	}
	if ev := e.events(audit.SecondFactor); len(ev) == 0 {
		t.Error("no second_factor events")
	}
	reasons := map[string]bool{}
	for _, ev := range e.events(audit.SecondFactor) {
		reasons[ev.Outcome+":"+ev.Reason] = true
	}
	for _, want := range []string{"success:totp", "success:recovery_code", "failure:replayed", "failure:totp", "failure:recovery_code"} {
		if !reasons[want] {
			t.Errorf("no second_factor %s event; got %v", want, reasons)
		}
	}
	if len(e.events(audit.RecoveryCodeUsed)) != 1 {
		t.Errorf("recovery_code_used events: %d, want 1", len(e.events(audit.RecoveryCodeUsed)))
	}
	for _, c := range codes {
		if strings.Contains(e.audit.String(), c) {
			t.Fatal("a recovery code reached the audit log")
		}
	}
}

func TestSecondFactorBruteForce(t *testing.T) {
	wrong := mfa.Proof{Method: mfa.MethodTOTP, Code: "000000"}
	t.Run("rate limited per user", func(t *testing.T) {
		e := newSFEnv(t, func(c *config.Config) { c.RateLimits.SecondFactorPerUser = "5-M" })
		u := e.user("alice")
		e.enrolTOTP(u)
		p := e.signIn(u)
		for range 4 { // the confirming code of the enrolment was the first check
			_, err := e.svc.SecondFactor(e.ctx, p.Claims, wrong, Client{})
			wantKind(t, err, KindSecondFactorInvalid)
		}
		_, err := e.svc.SecondFactor(e.ctx, p.Claims, wrong, Client{})
		wantKind(t, err, KindRateLimited)
		if er, _ := AsError(err); er.RetryAfter < 1 {
			t.Errorf("RetryAfter %d", er.RetryAfter)
		}
		if ev := e.events(audit.SecondFactor); len(ev) != 5 || ev[4].Reason != "rate_limited" {
			t.Errorf("second_factor events %+v, want 4 failures and rate_limited", ev)
		}
	})
	t.Run("failures lock the username, a right password in between does not reset them", func(t *testing.T) {
		e := newSFEnv(t, func(c *config.Config) { c.RateLimits.LockoutFailures = 3 })
		u := e.user("alice")
		secret, _ := e.enrolTOTP(u)
		for range 2 {
			p := e.signIn(u) // the password is right every time
			_, err := e.svc.SecondFactor(e.ctx, p.Claims, wrong, Client{})
			wantKind(t, err, KindSecondFactorInvalid)
		}
		p := e.signIn(u)
		_, err := e.svc.SecondFactor(e.ctx, p.Claims, wrong, Client{})
		wantKind(t, err, KindSecondFactorInvalid)
		if len(e.events(audit.Lockout)) != 1 {
			t.Fatalf("lockout events: %d, want 1", len(e.events(audit.Lockout)))
		}
		_, _, err = e.svc.SignIn(e.ctx, Login{Username: "alice", Password: testPassword}, Client{})
		wantKind(t, err, KindLocked)
		_, err = e.svc.SecondFactor(e.ctx, p.Claims, mfa.Proof{Method: mfa.MethodTOTP, Code: e.code(secret, 0)}, Client{})
		wantKind(t, err, KindLocked)
	})
	t.Run("a success forgets the failures", func(t *testing.T) {
		e := newSFEnv(t, func(c *config.Config) { c.RateLimits.LockoutFailures = 3 })
		u := e.user("alice")
		secret, _ := e.enrolTOTP(u)
		for i := range 4 {
			p := e.signIn(u)
			if i%2 == 0 {
				_, err := e.svc.SecondFactor(e.ctx, p.Claims, wrong, Client{})
				wantKind(t, err, KindSecondFactorInvalid)
				continue
			}
			e.clk.Add(30 * time.Second)
			if _, err := e.svc.SecondFactor(e.ctx, p.Claims, mfa.Proof{Method: mfa.MethodTOTP, Code: e.code(secret, 0)}, Client{}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestChangingFactorsNeedsAFreshSecondFactor(t *testing.T) {
	e := newSFEnv(t, func(c *config.Config) { c.MFA.FreshFor = 10 * time.Minute })
	u := e.user("alice")
	secret, _ := e.enrolTOTP(u)
	secondStep := func() auth.Pair {
		t.Helper()
		p := e.signIn(u)
		e.clk.Add(30 * time.Second)
		full, err := e.svc.SecondFactor(e.ctx, p.Claims, mfa.Proof{Method: mfa.MethodTOTP, Code: e.code(secret, 0)}, Client{})
		if err != nil {
			t.Fatal(err)
		}
		return full
	}
	restricted := e.signIn(u)
	full := secondStep()
	e.clk.Add(11 * time.Minute) // the second factor is stale now
	changes := []struct {
		name string
		do   func(c *auth.Claims) error
	}{
		{"remove the TOTP", func(c *auth.Claims) error { return e.svc.RemoveTOTP(e.ctx, c) }},
		{"remove a passkey", func(c *auth.Claims) error { return e.svc.RemovePasskey(e.ctx, c, "x") }},
		{"regenerate recovery codes", func(c *auth.Claims) error { _, err := e.svc.RegenerateRecoveryCodes(e.ctx, c); return err }},
		{"add another factor", func(c *auth.Claims) error { _, err := e.svc.BeginPasskey(e.ctx, c); return err }},
	}
	for _, ch := range changes {
		t.Run(ch.name+" with a stale session", func(t *testing.T) {
			wantKind(t, ch.do(full.Claims), KindFreshSecondFactor)
		})
		t.Run(ch.name+" with a password-only token", func(t *testing.T) {
			wantKind(t, ch.do(restricted.Claims), KindSecondFactorRequired)
		})
	}
	// A step-up makes it fresh.
	e.clk.Add(30 * time.Second)
	up, err := e.svc.SecondFactor(e.ctx, full.Claims, mfa.Proof{Method: mfa.MethodTOTP, Code: e.code(secret, 0)}, Client{})
	if err != nil {
		t.Fatalf("step-up: %v", err)
	}
	if slices.Contains(e.sessions(u.ID), full.Claims.SessionID) {
		t.Error("the step-up kept the old session")
	}
	codes, err := e.svc.RegenerateRecoveryCodes(e.ctx, up.Claims)
	if err != nil || len(codes) != 10 {
		t.Fatalf("regenerate: %d codes, %v", len(codes), err)
	}
	if err := e.svc.RemoveTOTP(e.ctx, up.Claims); err != nil {
		t.Fatalf("remove: %v", err)
	}
	st, _ := e.svc.SecondFactorStatus(e.ctx, up.Claims)
	if st.Enrolled() || st.RecoveryCodes != 0 {
		t.Errorf("after removal: %+v", st)
	}
	if err := e.svc.RemoveTOTP(e.ctx, up.Claims); err == nil {
		t.Error("removing twice succeeded")
	} else {
		wantKind(t, err, KindNotEnrolled)
	}
	if len(e.events(audit.SecondFactorRemoved)) != 1 || len(e.events(audit.RecoveryCodesRegenerated)) != 1 {
		t.Errorf("removed %d, regenerated %d events", len(e.events(audit.SecondFactorRemoved)), len(e.events(audit.RecoveryCodesRegenerated)))
	}
}

func TestEnrolStep(t *testing.T) {
	e := newSFEnv(t)
	u := e.user("root", "admin")
	p := e.signIn(u)
	if p.Claims.Step != auth.StepEnrol {
		t.Fatalf("step %q, want enrol", p.Claims.Step)
	}
	// Nothing but enrolling: no second step to skip to, no passkey login.
	_, err := e.svc.SecondFactor(e.ctx, p.Claims, mfa.Proof{Method: mfa.MethodTOTP, Code: "123456"}, Client{})
	wantKind(t, err, KindNotEnrolled)
	_, err = e.svc.BeginPasskeyLogin(e.ctx, p.Claims)
	wantKind(t, err, KindNotEnrolled)
	if _, err := e.svc.RegenerateRecoveryCodes(e.ctx, p.Claims); err == nil {
		t.Error("recovery codes without a factor")
	}

	en, err := e.svc.BeginTOTP(e.ctx, p.Claims)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ConfirmTOTP(e.ctx, p.Claims, "000000", Client{})
	wantKind(t, err, KindSecondFactorInvalid)
	res, err := e.svc.ConfirmTOTP(e.ctx, p.Claims, e.code(en.Secret, 0), Client{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.RecoveryCodes) != 10 || res.Pair == nil {
		t.Fatalf("enrolment: %d codes, pair %v", len(res.RecoveryCodes), res.Pair)
	}
	c := res.Pair.Claims
	if c.Step != "" || !slices.Equal(c.AMR, []string{"pwd", "otp"}) {
		t.Errorf("after enrolling: step %q amr %v", c.Step, c.AMR)
	}
	if slices.Contains(e.sessions(u.ID), p.Claims.SessionID) {
		t.Error("the enrol session was not ended")
	}
	if ev := e.events(audit.SecondFactorEnrolled); len(ev) != 1 || ev[0].Reason != "totp" {
		t.Errorf("enrolled events %+v", ev)
	}
	// The next sign-in asks for the factor.
	if p := e.signIn(u); p.Claims.Step != auth.StepVerify {
		t.Errorf("next sign-in step %q", p.Claims.Step)
	}
}

// A full session that enrols the user's first factor needs no step-up to
// do it, and comes out as a new session whose amr has the factor: a user
// sent to enrol by an mfa: required rule goes on at once.
func TestAFullSessionEnrolsItsFirstFactorWithoutAStepUp(t *testing.T) {
	e := newSFEnv(t)
	u := e.user("alice")
	p := e.signIn(u)
	en, err := e.svc.BeginTOTP(e.ctx, p.Claims)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.ConfirmTOTP(e.ctx, p.Claims, e.code(en.Secret, 0), Client{})
	if err != nil || res.Pair == nil || len(res.RecoveryCodes) != 10 {
		t.Fatalf("confirm: pair %v, %d codes, %v", res.Pair, len(res.RecoveryCodes), err)
	}
	if c := res.Pair.Claims; !slices.Equal(c.AMR, []string{"pwd", "otp"}) || c.Step != "" || c.SessionID == p.Claims.SessionID {
		t.Errorf("upgraded session: amr %v step %q sid new %v", c.AMR, c.Step, c.SessionID != p.Claims.SessionID)
	}
	if slices.Contains(e.sessions(u.ID), p.Claims.SessionID) {
		t.Error("the session that enrolled was not replaced")
	}
	// A second TOTP from the old (ended, password-only) claims is refused:
	// the first must go first, and it needs a fresh second factor.
	_, err = e.svc.BeginTOTP(e.ctx, p.Claims)
	wantKind(t, err, KindFreshSecondFactor)
	// The new session may change factors: its second factor is fresh.
	if _, err := e.svc.RegenerateRecoveryCodes(e.ctx, res.Pair.Claims); err != nil {
		t.Errorf("the upgraded session cannot regenerate codes: %v", err)
	}
}

func TestResetSecondFactors(t *testing.T) {
	e := newSFEnv(t)
	u := e.user("alice")
	admin := e.user("root", "admin")
	e.enrolTOTP(u)
	e.enrolTOTP(admin)
	user := e.signIn(u)
	ap := e.signIn(admin)
	// The admin's own token is restricted until the second step: refused.
	err := e.svc.ResetSecondFactors(e.ctx, user.Claims, admin.ID)
	wantKind(t, err, KindForbidden)
	adminClaims := &auth.Claims{Roles: []string{"admin"}}
	adminClaims.Subject = admin.ID
	err = e.svc.ResetSecondFactors(e.ctx, adminClaims, admin.ID)
	wantKind(t, err, KindValidation)
	err = e.svc.ResetSecondFactors(e.ctx, adminClaims, "nobody")
	wantKind(t, err, KindNotFound)
	if err := e.svc.ResetSecondFactors(e.ctx, adminClaims, u.ID); err != nil {
		t.Fatal(err)
	}
	if len(e.sessions(u.ID)) != 0 {
		t.Error("the user's sessions survived the reset")
	}
	if len(e.sessions(admin.ID)) == 0 || ap.Claims == nil {
		t.Error("the admin's sessions ended")
	}
	if p := e.signIn(u); p.Claims.Step != "" {
		t.Errorf("after reset the sign-in step is %q", p.Claims.Step)
	}
	ev := e.events(audit.SecondFactorRemoved)
	if len(ev) != 1 || ev[0].Reason != "admin_reset" || ev[0].Actor != admin.ID || ev[0].User != u.ID {
		t.Errorf("reset events %+v", ev)
	}
}

func TestSecondFactorsOff(t *testing.T) {
	e := newSFEnv(t, func(c *config.Config) { c.MFA.Enabled = false })
	p := e.signIn(e.user("alice"))
	if e.svc.MFA() != nil {
		t.Fatal("an mfa service without mfa.enabled")
	}
	_, err := e.svc.BeginTOTP(e.ctx, p.Claims)
	wantKind(t, err, KindNotFound)
	_, err = e.svc.SecondFactor(e.ctx, p.Claims, mfa.Proof{Method: mfa.MethodTOTP, Code: "123456"}, Client{})
	wantKind(t, err, KindNotFound)
}

func TestMfaRefusalsMapEveryRefusal(t *testing.T) {
	s := &Service{}
	for _, err := range []error{mfa.ErrInvalid, mfa.ErrReplayed, mfa.ErrNotEnrolled, mfa.ErrAlreadyEnrolled,
		mfa.ErrNoCeremony, mfa.ErrPasskeysOff, mfa.ErrBadName, mfa.ErrCloneWarning} {
		if _, ok := AsError(s.mfaRefusal(err)); !ok {
			t.Errorf("%v is not mapped to a refusal", err)
		}
	}
	other := errors.New("store down")
	if s.mfaRefusal(other) != other {
		t.Error("a failure to check became a refusal")
	}
}

// Passkeys through the account flows, with a software authenticator
// playing the browser: enrol at the enrol step, then the second step with
// the passkey; a replayed assertion fails and counts as a failure.
func TestPasskeyEnrolAndSecondStep(t *testing.T) {
	e := newSFEnv(t)
	u := e.user("root", "admin")
	key, err := mfatest.New(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	p := e.signIn(u)
	opts, err := e.svc.BeginPasskey(e.ctx, p.Claims)
	if err != nil {
		t.Fatal(err)
	}
	body, err := key.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.FinishPasskey(e.ctx, p.Claims, "laptop", body, Client{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pair == nil || !slices.Equal(res.Pair.Claims.AMR, []string{"pwd", "hwk"}) || res.Passkey == nil ||
		res.Passkey.ID != key.ID() || res.Passkey.Name != "laptop" || len(res.RecoveryCodes) != 10 {
		t.Fatalf("enrolment %+v", res)
	}
	if ev := e.events(audit.SecondFactorEnrolled); len(ev) != 1 || ev[0].Reason != "passkey" {
		t.Errorf("enrolled events %+v", ev)
	}

	p = e.signIn(u)
	if p.Claims.Step != auth.StepVerify {
		t.Fatalf("step %q", p.Claims.Step)
	}
	req, err := e.svc.BeginPasskeyLogin(e.ctx, p.Claims)
	if err != nil {
		t.Fatal(err)
	}
	assertion, err := key.Get(req)
	if err != nil {
		t.Fatal(err)
	}
	full, err := e.svc.SecondFactor(e.ctx, p.Claims, mfa.Proof{Method: mfa.MethodPasskey, Credential: assertion}, Client{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(full.Claims.AMR, []string{"pwd", "hwk"}) || full.Claims.Step != "" {
		t.Errorf("after the passkey: amr %v step %q", full.Claims.AMR, full.Claims.Step)
	}
	p = e.signIn(u)
	_, err = e.svc.SecondFactor(e.ctx, p.Claims, mfa.Proof{Method: mfa.MethodPasskey, Credential: assertion}, Client{})
	wantKind(t, err, KindSecondFactorInvalid)
	ev := e.events(audit.SecondFactor)
	if len(ev) != 2 || ev[0].Reason != "passkey" || ev[0].Outcome != audit.Success || ev[1].Outcome != audit.Failure {
		t.Errorf("second_factor events %+v", ev)
	}
	if strings.Contains(e.audit.String(), string(assertion[:40])) {
		t.Error("the assertion reached the audit log")
	}
}
