package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"authgate/store"
)

// factorsOf returns a record for userID with something in every field,
// its times in a zone other than UTC and with a monotonic reading, as
// time.Now gives them.
func factorsOf(userID string) store.SecondFactors {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	at := time.Now().In(zone)
	return store.SecondFactors{
		UserID:      userID,
		TOTP:        &store.TOTPFactor{SecretEnc: []byte{0, 1, 0xfe, 0xff, '"'}, AddedAt: at.Add(-time.Hour), LastStep: 59_000_001},
		PendingTOTP: &store.TOTPFactor{SecretEnc: []byte("sealed pending"), AddedAt: at},
		Passkeys: []store.Passkey{
			{ID: "AAEC_-8", Name: "laptop", Credential: []byte(`{"id":"AAEC_-8","publicKey":"pQECAyYgASFY"}`), AddedAt: at.Add(-2 * time.Hour), LastUsedAt: at.Add(-time.Minute)},
			{ID: "BQYH", Name: "phone ☎", Credential: []byte{0x7b, 0x7d}, AddedAt: at.Add(-time.Hour)},
		},
		RecoveryHashes: []string{"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaDE", "hash-2"},
		Ceremony:       &store.Ceremony{Purpose: "register", Data: []byte(`{"challenge":"c2lnbg"}`), ExpiresAt: at.Add(5 * time.Minute)},
		UpdatedAt:      at,
	}
}

// asStored is what the store returns for f put at version f.Version: the
// next version, every time in UTC.
func asStored(f store.SecondFactors) store.SecondFactors {
	f.Version++
	b, err := store.EncodeSecondFactors(f)
	if err != nil {
		panic(err)
	}
	out, err := store.DecodeSecondFactors(b)
	if err != nil {
		panic(err)
	}
	return out
}

// wantFactors fails unless got is want, field by field: bytes, the nil-ness
// of pointers and byte slices, and times with their zone (compared through
// their JSON, which spells the zone).
func wantFactors(t *testing.T, call string, got, want store.SecondFactors) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Fatalf("%s =\n%s\nwant\n%s", call, g, w)
	}
}

// getFactors reads the user's record or fails the test.
func getFactors(t *testing.T, s store.SecondFactorStore, userID string) store.SecondFactors {
	t.Helper()
	f, err := s.GetSecondFactors(testContext(t), userID)
	if err != nil {
		t.Fatalf("GetSecondFactors(%q): %v", userID, err)
	}
	return f
}

// putFactors stores f or fails the test, and checks what Put returned.
func putFactors(t *testing.T, s store.SecondFactorStore, f store.SecondFactors) store.SecondFactors {
	t.Helper()
	got, err := s.PutSecondFactors(testContext(t), f)
	if err != nil {
		t.Fatalf("PutSecondFactors(%q, version %d): %v", f.UserID, f.Version, err)
	}
	wantFactors(t, "PutSecondFactors", got, asStored(f))
	return got
}

// wantConflict fails unless putting f fails with ErrConflict.
func wantConflict(t *testing.T, s store.SecondFactorStore, f store.SecondFactors) {
	t.Helper()
	got, err := s.PutSecondFactors(testContext(t), f)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutSecondFactors(%q, version %d) = %+v, %v; want ErrConflict", f.UserID, f.Version, got, err)
	}
}

var secondFactorBehaviours = []behaviour{
	{"AUserWithNoneHasAnEmptyRecordAtVersionZero", func(t *testing.T, h *harness) {
		s := h.open(t)
		id := newID(t)
		wantFactors(t, "GetSecondFactors", getFactors(t, s, id), store.SecondFactors{UserID: id})
	}},
	{"TheFirstPutNeedsVersionZero", func(t *testing.T, h *harness) {
		s := h.open(t)
		f := factorsOf(newID(t))
		f.Version = 1
		wantConflict(t, s, f)
		f.Version = 0
		stored := putFactors(t, s, f)
		if stored.Version != 1 {
			t.Fatalf("first put returned version %d, want 1", stored.Version)
		}
		wantFactors(t, "GetSecondFactors", getFactors(t, s, f.UserID), stored)
	}},
	{"EveryFieldRoundTripsWithTimesInUTC", func(t *testing.T, h *harness) {
		s := h.open(t)
		f := factorsOf(newID(t))
		stored := putFactors(t, s, f)
		got := getFactors(t, s, f.UserID)
		wantFactors(t, "GetSecondFactors", got, stored)
		times := []struct {
			name      string
			got, want time.Time
		}{
			{"UpdatedAt", got.UpdatedAt, f.UpdatedAt},
			{"TOTP.AddedAt", got.TOTP.AddedAt, f.TOTP.AddedAt},
			{"PendingTOTP.AddedAt", got.PendingTOTP.AddedAt, f.PendingTOTP.AddedAt},
			{"Passkeys[0].AddedAt", got.Passkeys[0].AddedAt, f.Passkeys[0].AddedAt},
			{"Passkeys[0].LastUsedAt", got.Passkeys[0].LastUsedAt, f.Passkeys[0].LastUsedAt},
			{"Ceremony.ExpiresAt", got.Ceremony.ExpiresAt, f.Ceremony.ExpiresAt},
		}
		for _, tm := range times {
			if !tm.got.Equal(tm.want) || tm.got.Location() != time.UTC {
				t.Errorf("%s = %v, want %v in UTC", tm.name, tm.got, tm.want.UTC())
			}
		}
		if !got.Passkeys[1].LastUsedAt.IsZero() {
			t.Errorf("Passkeys[1].LastUsedAt = %v, want zero (never used)", got.Passkeys[1].LastUsedAt)
		}
		if !bytes.Equal(got.TOTP.SecretEnc, f.TOTP.SecretEnc) || !bytes.Equal(got.Passkeys[0].Credential, f.Passkeys[0].Credential) || !bytes.Equal(got.Ceremony.Data, f.Ceremony.Data) {
			t.Errorf("byte fields changed: %+v", got)
		}
	}},
	{"AbsentPartsStayAbsent", func(t *testing.T, h *harness) {
		s := h.open(t)
		f := store.SecondFactors{UserID: newID(t), Passkeys: []store.Passkey{}, RecoveryHashes: []string{},
			TOTP: &store.TOTPFactor{AddedAt: time.Now()}}
		putFactors(t, s, f)
		got := getFactors(t, s, f.UserID)
		if got.PendingTOTP != nil || got.Ceremony != nil || len(got.Passkeys) != 0 || len(got.RecoveryHashes) != 0 {
			t.Fatalf("GetSecondFactors = %+v, want no pending TOTP, ceremony, passkey or recovery code", got)
		}
		if got.TOTP == nil || len(got.TOTP.SecretEnc) != 0 {
			t.Fatalf("GetSecondFactors.TOTP = %+v, want a factor with an empty secret", got.TOTP)
		}
	}},
	{"APutReplacesTheWholeRecord", func(t *testing.T, h *harness) {
		s := h.open(t)
		f := factorsOf(newID(t))
		stored := putFactors(t, s, f)
		next := store.SecondFactors{UserID: f.UserID, Version: stored.Version, TOTP: stored.TOTP, RecoveryHashes: stored.RecoveryHashes[1:], UpdatedAt: time.Now()}
		stored = putFactors(t, s, next)
		if stored.Version != 2 {
			t.Fatalf("second put returned version %d, want 2", stored.Version)
		}
		wantFactors(t, "GetSecondFactors", getFactors(t, s, f.UserID), stored)
	}},
	{"AStaleVersionConflicts", func(t *testing.T, h *harness) {
		s := h.open(t)
		f := factorsOf(newID(t))
		v1 := putFactors(t, s, f)
		v2 := v1
		v2.TOTP.LastStep++
		v2 = putFactors(t, s, v2)
		stale := v1
		stale.RecoveryHashes = stale.RecoveryHashes[:1]
		wantConflict(t, s, stale)
		stale.Version = 0
		wantConflict(t, s, stale)
		stale.Version = 7
		wantConflict(t, s, stale)
		wantFactors(t, "GetSecondFactors after conflicts", getFactors(t, s, f.UserID), v2)
	}},
	{"OfConcurrentWritersOfOneVersionExactlyOneWins", func(t *testing.T, h *harness) {
		s := h.open(t)
		stores := []store.Store{s, h.sibling(t, s)}
		base := putFactors(t, stores[0], factorsOf(newID(t)))
		const writers = 8
		errs := make([]error, writers)
		wrote := make([]store.SecondFactors, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				f := base
				f.RecoveryHashes = []string{fmt.Sprintf("spent all but the one of writer %d", i)}
				wrote[i], errs[i] = stores[i%2].PutSecondFactors(testContext(t), f)
			})
		}
		wg.Wait()
		oneWinner(t, "PutSecondFactors", errs, store.ErrConflict)
		for i, err := range errs {
			if err == nil {
				if wrote[i].Version != 2 {
					t.Fatalf("winner got version %d, want 2", wrote[i].Version)
				}
				wantFactors(t, "GetSecondFactors", getFactors(t, stores[0], base.UserID), wrote[i])
			}
		}
	}},
	{"RetryingAnAppliedPutSucceedsWithTheSameRecord", func(t *testing.T, h *harness) {
		// A backend or client that resends a write whose reply was lost
		// must not turn its success into a conflict.
		s := h.open(t)
		f := factorsOf(newID(t))
		first := putFactors(t, s, f)
		again := putFactors(t, s, f)
		wantFactors(t, "PutSecondFactors retried", again, first)
		wantFactors(t, "GetSecondFactors", getFactors(t, s, f.UserID), first)

		other := f
		other.RecoveryHashes = []string{"another writer's record"}
		wantConflict(t, s, other)

		// Once a later write is stored, the retry is stale too.
		next := first
		next.Passkeys = nil
		second := putFactors(t, s, next)
		wantConflict(t, s, f)
		wantFactors(t, "GetSecondFactors", getFactors(t, s, f.UserID), second)
	}},
	{"RecordsArePerUser", func(t *testing.T, h *harness) {
		s := h.open(t)
		a, b := factorsOf(newID(t)), factorsOf(newID(t))
		b.RecoveryHashes = []string{"b's"}
		storedA := putFactors(t, s, a)
		wantFactors(t, "GetSecondFactors(b)", getFactors(t, s, b.UserID), store.SecondFactors{UserID: b.UserID})
		storedB := putFactors(t, s, b)
		if err := s.DeleteSecondFactors(testContext(t), b.UserID); err != nil {
			t.Fatalf("DeleteSecondFactors: %v", err)
		}
		wantFactors(t, "GetSecondFactors(a)", getFactors(t, s, a.UserID), storedA)
		_ = storedB
	}},
	{"DeleteSecondFactorsRemovesTheRecord", func(t *testing.T, h *harness) {
		s := h.open(t)
		f := factorsOf(newID(t))
		if err := s.DeleteSecondFactors(testContext(t), f.UserID); err != nil {
			t.Fatalf("DeleteSecondFactors of none: %v", err)
		}
		putFactors(t, s, f)
		if err := s.DeleteSecondFactors(testContext(t), f.UserID); err != nil {
			t.Fatalf("DeleteSecondFactors: %v", err)
		}
		wantFactors(t, "GetSecondFactors after delete", getFactors(t, s, f.UserID), store.SecondFactors{UserID: f.UserID})
		putFactors(t, s, f) // version 0 again
	}},
	{"DeleteUserDeletesTheUsersSecondFactors", func(t *testing.T, h *harness) {
		s := h.open(t)
		u, other := newUser(t, "alice", ""), newUser(t, "bob", "")
		create(t, s, u)
		create(t, s, other)
		putFactors(t, s, factorsOf(u.ID))
		kept := putFactors(t, s, factorsOf(other.ID))
		if err := s.DeleteUser(testContext(t), u.ID); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		wantFactors(t, "GetSecondFactors of the deleted user", getFactors(t, s, u.ID), store.SecondFactors{UserID: u.ID})
		wantFactors(t, "GetSecondFactors of another user", getFactors(t, s, other.ID), kept)
	}},
	{"CallersCannotChangeTheStoredRecord", func(t *testing.T, h *harness) {
		s := h.open(t)
		f := factorsOf(newID(t))
		stored := putFactors(t, s, f)
		want := asStored(f)
		for _, r := range []store.SecondFactors{f, stored, getFactors(t, s, f.UserID)} {
			r.TOTP.SecretEnc[0] = 'x'
			r.TOTP.LastStep = 1
			r.Passkeys[0].Credential[0] = 'x'
			r.Passkeys[1].Name = "changed"
			r.RecoveryHashes[0] = "changed"
			r.Ceremony.Data[0] = 'x'
		}
		wantFactors(t, "GetSecondFactors", getFactors(t, s, f.UserID), want)
	}},
	{"APutWithoutAUserIDFails", func(t *testing.T, h *harness) {
		s := h.open(t)
		f := factorsOf("")
		if _, err := s.PutSecondFactors(testContext(t), f); err == nil || errors.Is(err, store.ErrConflict) {
			t.Fatalf("PutSecondFactors without user ID: %v, want an error other than ErrConflict", err)
		}
	}},
}
