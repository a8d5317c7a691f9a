package mfa

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"authgate/config"
	"authgate/store"
	"authgate/store/memstore"
)

const testKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// clock is a settable clock for the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testConfig(mutate ...func(*config.MFA)) config.MFA {
	c := config.Config{MFA: config.MFA{Enabled: true, EncryptionKey: testKey,
		WebAuthn: config.MFAPasskey{Origins: []string{testOrigin}}}}
	for _, m := range mutate {
		m(&c.MFA)
	}
	config.ApplyDefaults(&c)
	if ps := config.Validate(&c); ps.HasErrors() {
		panic(ps.Error())
	}
	return c.MFA
}

func newTestService(t *testing.T, mutate ...func(*config.MFA)) (*Service, *memstore.Store, *clock) {
	t.Helper()
	st := memstore.New()
	// Mid-step, so that skew tests move whole steps.
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 15, 0, time.UTC)}
	s, err := New(testConfig(mutate...), st, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	return s, st, clk
}

var alice = User{ID: "u-alice", Name: "alice"}

// enrolTOTP enrols and confirms a TOTP for u and returns its secret and
// the recovery codes.
func enrolTOTP(t *testing.T, s *Service, clk *clock, u User) (string, []string) {
	t.Helper()
	ctx := context.Background()
	e, err := s.BeginTOTP(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	code, err := TOTPCode(e.Secret, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	codes, err := s.ConfirmTOTP(ctx, u, code)
	if err != nil {
		t.Fatal(err)
	}
	// The confirming code is spent: the checks of the test are of steps
	// after it, also those within the skew window before now.
	clk.Add(3 * time.Minute)
	return e.Secret, codes
}

func TestBeginTOTPShowsASecretOnceAndStoresItSealed(t *testing.T) {
	s, st, _ := newTestService(t)
	ctx := context.Background()
	e, err := s.BeginTOTP(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(e.URL)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != e.Secret ||
		u.Query().Get("issuer") != "authgate" || u.Path != "/authgate:alice" {
		t.Errorf("otpauth URL %q", e.URL)
	}
	if len(e.QRPNG) < 100 || string(e.QRPNG[1:4]) != "PNG" {
		t.Errorf("QR code is not a PNG (%d bytes)", len(e.QRPNG))
	}
	f, _ := st.GetSecondFactors(ctx, alice.ID)
	if f.TOTP != nil || f.PendingTOTP == nil {
		t.Fatalf("an unconfirmed secret counts: %+v", f)
	}
	if containsBytes(f.PendingTOTP.SecretEnc, []byte(e.Secret)) {
		t.Error("the secret is stored in clear")
	}
	if ok, _ := s.Enrolled(ctx, alice.ID); ok {
		t.Error("Enrolled before confirmation")
	}
}

func containsBytes(haystack, needle []byte) bool {
	return len(needle) > 0 && string(haystack) != "" && indexOf(string(haystack), string(needle)) >= 0
}

func indexOf(h, n string) int {
	for i := 0; i+len(n) <= len(h); i++ {
		if h[i:i+len(n)] == n {
			return i
		}
	}
	return -1
}

func TestConfirmTOTP(t *testing.T) {
	ctx := context.Background()
	t.Run("a first code confirms and brings recovery codes", func(t *testing.T) {
		s, st, clk := newTestService(t)
		_, codes := enrolTOTP(t, s, clk, alice)
		if len(codes) != 10 {
			t.Fatalf("%d recovery codes, want 10", len(codes))
		}
		f, _ := st.GetSecondFactors(ctx, alice.ID)
		if f.TOTP == nil || f.PendingTOTP != nil || len(f.RecoveryHashes) != 10 {
			t.Fatalf("record after confirm: %+v", f)
		}
		if ok, _ := s.Enrolled(ctx, alice.ID); !ok {
			t.Error("not Enrolled after confirmation")
		}
	})
	t.Run("a wrong first code is refused and nothing counts", func(t *testing.T) {
		s, st, _ := newTestService(t)
		if _, err := s.BeginTOTP(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConfirmTOTP(ctx, alice, "000000"); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
		if _, err := s.ConfirmTOTP(ctx, alice, "12345"); !errors.Is(err, ErrInvalid) {
			t.Errorf("5 digits: err = %v, want ErrInvalid", err)
		}
		if f, _ := st.GetSecondFactors(ctx, alice.ID); f.TOTP != nil {
			t.Error("a wrong code confirmed the secret")
		}
	})
	t.Run("nothing pending", func(t *testing.T) {
		s, _, _ := newTestService(t)
		if _, err := s.ConfirmTOTP(ctx, alice, "123456"); !errors.Is(err, ErrNotEnrolled) {
			t.Errorf("err = %v, want ErrNotEnrolled", err)
		}
	})
	t.Run("a pending enrolment expires", func(t *testing.T) {
		s, _, clk := newTestService(t)
		e, _ := s.BeginTOTP(ctx, alice)
		clk.Add(PendingTOTPTTL)
		code, _ := TOTPCode(e.Secret, clk.Now())
		if _, err := s.ConfirmTOTP(ctx, alice, code); !errors.Is(err, ErrNotEnrolled) {
			t.Errorf("err = %v, want ErrNotEnrolled", err)
		}
	})
	t.Run("a second TOTP needs the first removed", func(t *testing.T) {
		s, _, clk := newTestService(t)
		enrolTOTP(t, s, clk, alice)
		if _, err := s.BeginTOTP(ctx, alice); !errors.Is(err, ErrAlreadyEnrolled) {
			t.Errorf("err = %v, want ErrAlreadyEnrolled", err)
		}
	})
}

func TestVerifyTOTP(t *testing.T) {
	ctx := context.Background()
	type check struct {
		offset time.Duration // of the code's time from the clock
		want   error
	}
	tests := []struct {
		name   string
		skew   int
		checks []check
	}{
		{"the current code", 1, []check{{0, nil}}},
		{"one step early and late within skew 1", 1, []check{{-30 * time.Second, nil}, {30 * time.Second, nil}}},
		{"two steps off outside skew 1", 1, []check{{-60 * time.Second, ErrInvalid}, {60 * time.Second, ErrInvalid}}},
		{"skew 0 takes only the current step", 0, []check{{-30 * time.Second, ErrInvalid}, {0, nil}}},
		{"skew 2 takes two steps back", 2, []check{{-60 * time.Second, nil}}},
		{"the same code twice is a replay", 1, []check{{0, nil}, {0, ErrReplayed}}},
		{"an earlier step after a later one is a replay", 1, []check{{0, nil}, {-30 * time.Second, ErrReplayed}}},
		{"a later step after an earlier one is fine", 1, []check{{-30 * time.Second, nil}, {0, nil}, {30 * time.Second, nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, clk := newTestService(t, func(m *config.MFA) { m.TOTP.Skew = &tt.skew })
			secret, _ := enrolTOTP(t, s, clk, alice)
			for i, c := range tt.checks {
				code, err := TOTPCode(secret, clk.Now().Add(c.offset))
				if err != nil {
					t.Fatal(err)
				}
				res, err := s.Verify(ctx, alice, Proof{Method: MethodTOTP, Code: code[:3] + " " + code[3:]})
				if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
					t.Fatalf("check %d (offset %s): err = %v, want %v", i, c.offset, err, c.want)
				}
				if err == nil && (res.Method != MethodTOTP || res.AMR != "otp") {
					t.Errorf("result %+v", res)
				}
			}
		})
	}
	t.Run("a wrong code", func(t *testing.T) {
		s, _, clk := newTestService(t)
		secret, _ := enrolTOTP(t, s, clk, alice)
		good, _ := TOTPCode(secret, clk.Now())
		bad := []byte(good)
		bad[5] = '0' + (bad[5]-'0'+1)%10
		for _, code := range []string{string(bad), "", "abcdef", "1234567"} {
			if _, err := s.Verify(ctx, alice, Proof{Method: MethodTOTP, Code: code}); !errors.Is(err, ErrInvalid) {
				t.Errorf("code %q: err = %v, want ErrInvalid", code, err)
			}
		}
	})
	t.Run("the confirming code cannot be replayed", func(t *testing.T) {
		s, _, clk := newTestService(t)
		e, _ := s.BeginTOTP(ctx, alice)
		code, _ := TOTPCode(e.Secret, clk.Now())
		if _, err := s.ConfirmTOTP(ctx, alice, code); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(ctx, alice, Proof{Method: MethodTOTP, Code: code}); !errors.Is(err, ErrReplayed) {
			t.Errorf("err = %v, want ErrReplayed", err)
		}
	})
	t.Run("not enrolled", func(t *testing.T) {
		s, _, _ := newTestService(t)
		if _, err := s.Verify(ctx, alice, Proof{Method: MethodTOTP, Code: "123456"}); !errors.Is(err, ErrNotEnrolled) {
			t.Errorf("err = %v, want ErrNotEnrolled", err)
		}
	})
	t.Run("unknown method", func(t *testing.T) {
		s, _, _ := newTestService(t)
		if _, err := s.Verify(ctx, alice, Proof{Method: "sms", Code: "123456"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
}

// Two checks racing with the same code: exactly one succeeds, the store's
// compare-and-swap makes the other re-read and see the step spent.
func TestConcurrentSameCodeSucceedsOnce(t *testing.T) {
	s, _, clk := newTestService(t)
	secret, _ := enrolTOTP(t, s, clk, alice)
	code, _ := TOTPCode(secret, clk.Now())
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.Verify(context.Background(), alice, Proof{Method: MethodTOTP, Code: code})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrReplayed):
			t.Errorf("err = %v, want nil or ErrReplayed", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d checks succeeded, want exactly 1", ok)
	}
}

func TestRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	s, st, clk := newTestService(t, func(m *config.MFA) { m.RecoveryCodes = 3 })
	_, codes := enrolTOTP(t, s, clk, alice)
	if len(codes) != 3 {
		t.Fatalf("%d codes, want 3", len(codes))
	}
	f, _ := st.GetSecondFactors(ctx, alice.ID)
	for _, c := range codes {
		n, _ := NormalizeRecoveryCode(c)
		for _, h := range f.RecoveryHashes {
			if indexOf(h, n) >= 0 {
				t.Fatal("a recovery code is stored in clear")
			}
		}
	}
	// Typed sloppily: upper case, spaces instead of dashes, O for 0.
	typed := upperSpaced(codes[0])
	res, err := s.Verify(ctx, alice, Proof{Method: MethodRecoveryCode, Code: typed})
	if err != nil || res.AMR != "kba" || res.RecoveryCodesLeft != 2 {
		t.Fatalf("first use of %q: %+v, %v", typed, res, err)
	}
	if _, err := s.Verify(ctx, alice, Proof{Method: MethodRecoveryCode, Code: codes[0]}); !errors.Is(err, ErrInvalid) {
		t.Errorf("reuse: err = %v, want ErrInvalid", err)
	}
	if _, err := s.Verify(ctx, alice, Proof{Method: MethodRecoveryCode, Code: "0000-0000-0000"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong code: err = %v, want ErrInvalid", err)
	}
	// Another user's code is no good for alice: the user ID is hashed in.
	bob := User{ID: "u-bob", Name: "bob"}
	_, bobCodes := enrolTOTP(t, s, clk, bob)
	if _, err := s.Verify(ctx, alice, Proof{Method: MethodRecoveryCode, Code: bobCodes[0]}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bob's code for alice: err = %v, want ErrInvalid", err)
	}
	fresh, err := s.RegenerateRecoveryCodes(ctx, alice.ID)
	if err != nil || len(fresh) != 3 {
		t.Fatalf("regenerate: %v, %v", fresh, err)
	}
	if _, err := s.Verify(ctx, alice, Proof{Method: MethodRecoveryCode, Code: codes[1]}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an old code after regeneration: err = %v, want ErrInvalid", err)
	}
	if _, err := s.Verify(ctx, alice, Proof{Method: MethodRecoveryCode, Code: fresh[2]}); err != nil {
		t.Errorf("a new code: %v", err)
	}
	// Removing the last factor drops the codes; none are left to use.
	if err := s.RemoveTOTP(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, alice, Proof{Method: MethodRecoveryCode, Code: fresh[0]}); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("a code without a factor: err = %v, want ErrNotEnrolled", err)
	}
	if _, err := s.RegenerateRecoveryCodes(ctx, alice.ID); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("regenerate without a factor: err = %v, want ErrNotEnrolled", err)
	}
	if err := s.RemoveTOTP(ctx, alice.ID); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("remove twice: err = %v, want ErrNotEnrolled", err)
	}
}

func upperSpaced(code string) string {
	b := []byte(code)
	for i, c := range b {
		switch {
		case c == '-':
			b[i] = ' '
		case c == '0':
			b[i] = 'O'
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	return " " + string(b) + " "
}

func TestStatusAndReset(t *testing.T) {
	ctx := context.Background()
	s, _, clk := newTestService(t)
	st, err := s.Status(ctx, alice.ID)
	if err != nil || st.Enrolled() || st.TOTP || !st.PasskeysAvailable || st.Passkeys == nil {
		t.Fatalf("empty status %+v, %v", st, err)
	}
	enrolTOTP(t, s, clk, alice)
	if st, _ = s.Status(ctx, alice.ID); !st.TOTP || st.RecoveryCodes != 10 || !st.Enrolled() {
		t.Errorf("status %+v", st)
	}
	if err := s.Reset(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ = s.Status(ctx, alice.ID); st.Enrolled() || st.RecoveryCodes != 0 {
		t.Errorf("after reset %+v", st)
	}
}

// conflictStore loses the first n writes to a simulated concurrent writer.
type conflictStore struct {
	*memstore.Store
	n int
}

func (c *conflictStore) PutSecondFactors(ctx context.Context, f store.SecondFactors) (store.SecondFactors, error) {
	if c.n > 0 {
		c.n--
		return store.SecondFactors{}, store.ErrConflict
	}
	return c.Store.PutSecondFactors(ctx, f)
}

func TestWritesRetryOnConflictBounded(t *testing.T) {
	ctx := context.Background()
	cs := &conflictStore{Store: memstore.New(), n: 3}
	s, err := New(testConfig(), cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginTOTP(ctx, alice); err != nil {
		t.Fatalf("3 conflicts: %v", err)
	}
	cs.n = 100
	if _, err := s.BeginTOTP(ctx, alice); !errors.Is(err, store.ErrConflict) {
		t.Errorf("endless conflicts: err = %v, want ErrConflict", err)
	}
}

// One recovery code presented by two requests at once is spent once.
func TestConcurrentSameRecoveryCodeSucceedsOnce(t *testing.T) {
	s, _, clk := newTestService(t)
	_, codes := enrolTOTP(t, s, clk, alice)
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.Verify(context.Background(), alice, Proof{Method: MethodRecoveryCode, Code: codes[3]})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrInvalid):
			t.Errorf("err = %v, want nil or ErrInvalid", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d uses succeeded, want exactly 1", ok)
	}
}
