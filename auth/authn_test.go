package auth

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authgate/config"
	"authgate/store"
	"authgate/store/memstore"
)

func TestHowASessionWasAuthenticatedSurvivesSigning(t *testing.T) {
	tk := newTestTokens(t, tokensConfig(config.Key{Kid: "hs", Alg: "HS256", Secret: hsSecret}))
	for _, c := range []*Claims{
		{AMR: []string{"pwd", "otp"}, AuthTime: jwt.NewNumericDate(testNow.Add(-time.Minute))},
		{AMR: []string{"fed"}, AuthTime: jwt.NewNumericDate(testNow), Step: StepEnrol},
		{}, // a token of before second factors
	} {
		c.Subject, c.SessionID, c.Roles = "u1", "s1", []string{"user"}
		tok, issued, err := tk.issue(c, testNow)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tk.Verify(tok)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if !reflect.DeepEqual(got, issued) {
			t.Errorf("verified claims differ from issued ones:\n got %+v\nwant %+v", got, issued)
		}
	}
}

func TestClaimsDecodeAuthTimeStrictly(t *testing.T) {
	for _, tc := range []struct {
		json string
		ok   bool
		want int64
	}{
		{`{"auth_time":1700000000}`, true, 1700000000},
		{`{}`, true, 0},
		{`{"auth_time":"1700000000"}`, false, 0},
		{`{"auth_time":null}`, false, 0},
		{`{"auth_time":[1]}`, false, 0},
		{`{"auth_time":253402300800}`, false, 0},
		{`{"amr":"pwd"}`, false, 0},
		{`{"amr":[true]}`, false, 0},
		{`{"mfa":1}`, false, 0},
	} {
		var c Claims
		err := json.Unmarshal([]byte(tc.json), &c)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.json, err, tc.ok)
			continue
		}
		if tc.ok && tc.want != 0 && (c.AuthTime == nil || c.AuthTime.Unix() != tc.want) {
			t.Errorf("%s: auth_time %v, want %d", tc.json, c.AuthTime, tc.want)
		}
		if tc.ok && tc.want == 0 && c.AuthTime != nil {
			t.Errorf("%s: auth_time %v, want none", tc.json, c.AuthTime)
		}
	}
}

func TestSecondFactorHelpers(t *testing.T) {
	now := testNow
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(now.Add(-d)) }
	for _, tc := range []struct {
		name      string
		c         Claims
		has       bool
		within10m bool
	}{
		{"password only", Claims{AMR: []string{"pwd"}, AuthTime: at(0)}, false, false},
		{"provider only", Claims{AMR: []string{"fed"}, AuthTime: at(0)}, false, false},
		{"password and TOTP", Claims{AMR: []string{"pwd", "otp"}, AuthTime: at(time.Minute)}, true, true},
		{"password and passkey, stale", Claims{AMR: []string{"pwd", "hwk"}, AuthTime: at(11 * time.Minute)}, true, false},
		{"exactly at the limit", Claims{AMR: []string{"pwd", "hwk"}, AuthTime: at(10 * time.Minute)}, true, true},
		{"recovery code", Claims{AMR: []string{"pwd", "kba"}, AuthTime: at(0)}, true, true},
		{"second factor without auth_time", Claims{AMR: []string{"pwd", "otp"}}, true, false},
		{"restricted token naming otp", Claims{AMR: []string{"pwd", "otp"}, AuthTime: at(0), Step: StepVerify}, false, false},
		{"external mfa", Claims{External: true, AMR: []string{"pwd", "mfa"}, AuthTime: at(0)}, true, true},
		{"external swk", Claims{External: true, AMR: []string{"swk"}, AuthTime: at(0)}, true, true},
		{"external kba is not one", Claims{External: true, AMR: []string{"pwd", "kba"}, AuthTime: at(0)}, false, false},
		{"authgate mfa is not one", Claims{AMR: []string{"mfa"}, AuthTime: at(0)}, false, false},
		{"nothing", Claims{}, false, false},
	} {
		if got := tc.c.HasSecondFactor(); got != tc.has {
			t.Errorf("%s: HasSecondFactor = %v, want %v", tc.name, got, tc.has)
		}
		if got := tc.c.SecondFactorWithin(10*time.Minute, now); got != tc.within10m {
			t.Errorf("%s: SecondFactorWithin(10m) = %v, want %v", tc.name, got, tc.within10m)
		}
	}
}

func TestSessionsKeepHowTheyWereAuthenticatedAcrossRefresh(t *testing.T) {
	st := memstore.New()
	ctx := context.Background()
	u := store.User{ID: "u", Username: "alice", Active: true}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	s := newTestSessions(t, st, time.Minute) // AccessTTL 1m
	s.cfg.AccessTTL = 15 * time.Minute
	s.tokens.ttl = 15 * time.Minute
	now := time.Now().Truncate(time.Second) // the memory store expires sessions by the real clock
	s.now = func() time.Time { return now }
	s.tokens.clock = s.now
	signedIn := now.Add(-3 * time.Minute).Add(400 * time.Millisecond)
	for _, tc := range []struct {
		name    string
		a       Authn
		wantTTL time.Duration
		wantAt  time.Time
	}{
		{"full, with a second factor", Authn{AMR: []string{"pwd", "otp"}, Time: signedIn}, 15 * time.Minute, signedIn.Truncate(time.Second)},
		{"second step pending", Authn{AMR: []string{"pwd"}, Step: StepVerify}, RestrictedTTL, now},
		{"must enrol", Authn{AMR: []string{"fed"}, Step: StepEnrol}, RestrictedTTL, now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Start(ctx, u, tc.a)
			if err != nil {
				t.Fatal(err)
			}
			live := p.RefreshToken
			for i := range 3 {
				if i > 0 {
					next, _, err := s.Refresh(ctx, live)
					if err != nil {
						t.Fatalf("Refresh: %v", err)
					}
					p, live = next, next.RefreshToken
				}
				c, err := s.tokens.Verify(p.AccessToken)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !slices.Equal(c.AMR, tc.a.AMR) || c.Step != tc.a.Step || c.AuthTime == nil || !c.AuthTime.Equal(tc.wantAt) {
					t.Fatalf("token %d carries amr %q step %q auth_time %v; want %q %q %v", i, c.AMR, c.Step, c.AuthTime, tc.a.AMR, tc.a.Step, tc.wantAt)
				}
				if ttl := c.ExpiresAt.Sub(c.IssuedAt.Time); ttl != tc.wantTTL || p.ExpiresIn != int(tc.wantTTL/time.Second) {
					t.Fatalf("token %d lives %v (expires_in %d), want %v", i, ttl, p.ExpiresIn, tc.wantTTL)
				}
				if c.HasSecondFactor() != (tc.a.Step == "" && slices.Contains(tc.a.AMR, "otp")) {
					t.Fatalf("token %d: HasSecondFactor = %v", i, c.HasSecondFactor())
				}
			}
		})
	}
}
