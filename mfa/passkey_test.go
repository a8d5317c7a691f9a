package mfa

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"authgate/config"
	"authgate/mfa/mfatest"
)

const testOrigin = "https://gw.example.com"

// softKey is a software authenticator (package mfatest) that fails the
// test instead of returning errors.
type softKey struct {
	*mfatest.Authenticator
	t *testing.T
}

func newSoftKey(t *testing.T) *softKey {
	t.Helper()
	a, err := mfatest.New(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return &softKey{Authenticator: a, t: t}
}

var b64 = base64.RawURLEncoding

func (k *softKey) create(options []byte) []byte {
	k.t.Helper()
	b, err := k.Create(options)
	if err != nil {
		k.t.Fatal(err)
	}
	return b
}

// get answers with an assertion signed by signer (k's own key when nil).
func (k *softKey) get(options []byte, signer *ecdsa.PrivateKey) []byte {
	k.t.Helper()
	k.SignWith = signer
	b, err := k.Get(options)
	if err != nil {
		k.t.Fatal(err)
	}
	return b
}

func registerPasskey(t *testing.T, s *Service, u User, k *softKey, name string) (PasskeyInfo, []string) {
	t.Helper()
	ctx := context.Background()
	opts, err := s.BeginPasskey(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	info, codes, err := s.FinishPasskey(ctx, u, name, k.create(opts))
	if err != nil {
		t.Fatalf("FinishPasskey: %v", err)
	}
	return info, codes
}

func TestPasskeyRegistrationAndLogin(t *testing.T) {
	ctx := context.Background()
	s, st, clk := newTestService(t)
	k := newSoftKey(t)
	info, codes := registerPasskey(t, s, alice, k, "YubiKey")
	if info.ID != k.ID() || info.Name != "YubiKey" || len(codes) != 10 {
		t.Fatalf("registered %+v with %d codes", info, len(codes))
	}
	if f, _ := st.GetSecondFactors(ctx, alice.ID); f.Ceremony != nil {
		t.Error("the registration ceremony is still pending after finish")
	}
	// A second authenticator is no first factor: no new codes; the first
	// is excluded in the options so the browser will not register it twice.
	opts, err := s.BeginPasskey(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		PublicKey struct {
			Exclude []struct {
				ID string `json:"id"`
			} `json:"excludeCredentials"`
		} `json:"publicKey"`
	}
	json.Unmarshal(opts, &o)
	if len(o.PublicKey.Exclude) != 1 || o.PublicKey.Exclude[0].ID != info.ID {
		t.Errorf("excludeCredentials = %+v, want the registered passkey", o.PublicKey.Exclude)
	}
	k2 := newSoftKey(t)
	_, codes2, err := s.FinishPasskey(ctx, alice, "", k2.create(opts))
	if err != nil || codes2 != nil {
		t.Fatalf("second passkey: codes %v, %v", codes2, err)
	}
	st2, _ := s.Status(ctx, alice.ID)
	if len(st2.Passkeys) != 2 || st2.Passkeys[1].Name != "Passkey 2" {
		t.Errorf("status passkeys %+v", st2.Passkeys)
	}

	// Sign in with the first.
	clk.Add(time.Minute)
	req, err := s.BeginPasskeyLogin(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	var ro struct {
		PublicKey struct {
			Allow []struct {
				ID string `json:"id"`
			} `json:"allowCredentials"`
		} `json:"publicKey"`
	}
	json.Unmarshal(req, &ro)
	if len(ro.PublicKey.Allow) != 2 {
		t.Errorf("allowCredentials = %+v, want the user's two passkeys", ro.PublicKey.Allow)
	}
	assertion := k.get(req, nil)
	res, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: assertion})
	if err != nil || res.AMR != "hwk" || res.PasskeyID != info.ID {
		t.Fatalf("passkey login: %+v, %v", res, err)
	}
	if st2, _ = s.Status(ctx, alice.ID); !st2.Passkeys[0].LastUsedAt.Equal(clk.Now()) {
		t.Errorf("last used %v, want %v", st2.Passkeys[0].LastUsedAt, clk.Now())
	}
	// The same finish again: its ceremony is spent.
	if _, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: assertion}); !errors.Is(err, ErrNoCeremony) {
		t.Errorf("replayed finish: err = %v, want ErrNoCeremony", err)
	}
	// A fresh ceremony, answered with a counter that went backwards.
	req, _ = s.BeginPasskeyLogin(ctx, alice)
	k.Counter = 0
	if _, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: k.get(req, nil)}); !errors.Is(err, ErrCloneWarning) || !errors.Is(err, ErrInvalid) {
		t.Errorf("counter backwards: err = %v, want ErrCloneWarning", err)
	}
	// The counter is kept where it was: the next real use (counter 2) works.
	k.Counter = 1
	req, _ = s.BeginPasskeyLogin(ctx, alice)
	if _, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: k.get(req, nil)}); err != nil {
		t.Errorf("after a refused clone: %v", err)
	}

	// Remove both: recovery codes go with the last factor.
	if err := s.RemovePasskey(ctx, alice.ID, info.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RemovePasskey(ctx, alice.ID, info.ID); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("remove twice: err = %v, want ErrNotEnrolled", err)
	}
	if err := s.RemovePasskey(ctx, alice.ID, k2.ID()); err != nil {
		t.Fatal(err)
	}
	if st2, _ = s.Status(ctx, alice.ID); st2.Enrolled() || st2.RecoveryCodes != 0 {
		t.Errorf("after removing every passkey: %+v", st2)
	}
	if _, err := s.BeginPasskeyLogin(ctx, alice); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("login without passkeys: err = %v, want ErrNotEnrolled", err)
	}
}

func TestPasskeyCeremonyRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// run returns the error of the finish under test.
		run  func(t *testing.T, s *Service, clk *clock, k *softKey) error
		want error
	}{
		{"login finish without a ceremony", func(t *testing.T, s *Service, clk *clock, k *softKey) error {
			_, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: []byte(`{}`)})
			return err
		}, ErrNoCeremony},
		{"login finish after the ceremony expired", func(t *testing.T, s *Service, clk *clock, k *softKey) error {
			req, _ := s.BeginPasskeyLogin(ctx, alice)
			clk.Add(CeremonyTTL)
			_, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: k.get(req, nil)})
			return err
		}, ErrNoCeremony},
		{"login finish of a registration ceremony", func(t *testing.T, s *Service, clk *clock, k *softKey) error {
			opts, _ := s.BeginPasskey(ctx, alice)
			_, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: k.get(opts, nil)})
			return err
		}, ErrNoCeremony},
		{"registration finish of a login ceremony", func(t *testing.T, s *Service, clk *clock, k *softKey) error {
			opts, _ := s.BeginPasskey(ctx, alice)
			body := newSoftKey(t).create(opts)
			s.BeginPasskeyLogin(ctx, alice) // replaces the registration ceremony
			_, _, err := s.FinishPasskey(ctx, alice, "", body)
			return err
		}, ErrNoCeremony},
		{"an assertion signed by another key", func(t *testing.T, s *Service, clk *clock, k *softKey) error {
			req, _ := s.BeginPasskeyLogin(ctx, alice)
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			_, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: k.get(req, other)})
			return err
		}, ErrInvalid},
		{"an assertion from another origin", func(t *testing.T, s *Service, clk *clock, k *softKey) error {
			req, _ := s.BeginPasskeyLogin(ctx, alice)
			k.Origin = "https://evil.example.net"
			_, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: k.get(req, nil)})
			return err
		}, ErrInvalid},
		{"an unregistered authenticator", func(t *testing.T, s *Service, clk *clock, k *softKey) error {
			req, _ := s.BeginPasskeyLogin(ctx, alice)
			_, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: newSoftKey(t).get(req, nil)})
			return err
		}, ErrInvalid},
		{"garbage instead of an assertion", func(t *testing.T, s *Service, clk *clock, k *softKey) error {
			s.BeginPasskeyLogin(ctx, alice)
			_, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: []byte(`{"id":`)})
			return err
		}, ErrInvalid},
		{"another user's ceremony", func(t *testing.T, s *Service, clk *clock, k *softKey) error {
			bob := User{ID: "u-bob", Name: "bob"}
			registerPasskey(t, s, bob, newSoftKey(t), "")
			req, _ := s.BeginPasskeyLogin(ctx, bob)
			_, err := s.Verify(ctx, alice, Proof{Method: MethodPasskey, Credential: k.get(req, nil)})
			return err
		}, ErrNoCeremony},
		{"the same authenticator registered twice", func(t *testing.T, s *Service, clk *clock, k *softKey) error {
			opts, _ := s.BeginPasskey(ctx, alice)
			_, _, err := s.FinishPasskey(ctx, alice, "", k.create(opts))
			return err
		}, ErrInvalid},
		{"a name too long", func(t *testing.T, s *Service, clk *clock, k *softKey) error {
			opts, _ := s.BeginPasskey(ctx, alice)
			_, _, err := s.FinishPasskey(ctx, alice, string(make([]byte, 65)), newSoftKey(t).create(opts))
			return err
		}, ErrBadName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, st, clk := newTestService(t)
			k := newSoftKey(t)
			registerPasskey(t, s, alice, k, "")
			err := tt.run(t, s, clk, k)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == ErrBadName {
				return // refused before the ceremony was looked at
			}
			if f, _ := st.GetSecondFactors(ctx, alice.ID); f.Ceremony != nil {
				t.Errorf("the ceremony survived a finish: %+v", f.Ceremony.Purpose)
			}
		})
	}
}

func TestPasskeysOff(t *testing.T) {
	s, _, _ := newTestService(t, func(m *config.MFA) { m.WebAuthn.Origins = nil })
	if s.PasskeysOn() {
		t.Fatal("passkeys on without origins")
	}
	if _, err := s.BeginPasskey(context.Background(), alice); !errors.Is(err, ErrPasskeysOff) {
		t.Errorf("err = %v, want ErrPasskeysOff", err)
	}
}
