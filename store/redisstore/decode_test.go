package redisstore

import (
	"fmt"
	"testing"
	"time"

	"authgate/store"
)

func FuzzDecodeRevocation(f *testing.F) {
	for _, seed := range []string{
		"v2 ab12 0 1700000000000001 1700000000000 sid", "v2 e 1 2 0 a b c", "v2 e 1 2 -5 x",
		"v2 e 1 2 99999999999999999999 x", "v2 e 1 2  x", "v2 e 1 2 1 ", "", "v1 1 s",
		"v2  1 2 3 s", "garbage", "v2 e -1 2 1\x00 s",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		a, err := decodeRevocation(payload)
		if err != nil {
			return
		}
		if a.SessionID == "" || a.Epoch == "" {
			t.Fatalf("decodeRevocation(%q) accepted an empty session id or epoch: %+v", payload, a)
		}
		// What decodes re-encodes (as the revoke script writes it) to the
		// same revocation.
		again, err := decodeRevocation(fmt.Sprintf("v2 %s %d %d %d %s", a.Epoch, a.Prev, a.Seq, a.Until.UnixMilli(), a.SessionID))
		if err != nil || again != a {
			t.Fatalf("round trip of %q: %+v %v, want %+v", payload, again, err, a)
		}
	})
}

func FuzzSessionRoundTrip(f *testing.F) {
	f.Add("sid", "uid", "hash", int64(1700000000123456789), int64(0), int64(-1))
	f.Add("", "", "", int64(-6795364578871345152), int64(9223372036854775807), int64(1))
	f.Fuzz(func(t *testing.T, id, uid, hash string, created, refresh, end int64) {
		in := store.Session{
			ID: id, UserID: uid, RefreshHash: hash,
			CreatedAt: time.Unix(0, created), RefreshExpiresAt: time.Unix(0, refresh), ExpiresAt: time.Unix(0, end),
		}
		fields := sessionFields(in)
		h := map[string]string{}
		for i := 0; i < len(fields); i += 2 {
			h[fields[i].(string)] = fmt.Sprint(fields[i+1])
		}
		out, err := decodeSession(h)
		if err != nil {
			t.Fatalf("decodeSession(sessionFields(%+v)): %v", in, err)
		}
		if out.ID != in.ID || out.UserID != in.UserID || out.RefreshHash != in.RefreshHash ||
			!out.CreatedAt.Equal(in.CreatedAt) || !out.RefreshExpiresAt.Equal(in.RefreshExpiresAt) || !out.ExpiresAt.Equal(in.ExpiresAt) {
			t.Fatalf("round trip changed the session: %+v → %+v", in, out)
		}
		// The scripts compare refresh expiries as strings: the order of the
		// strings must be the order of the times.
		a, b := in.RefreshExpiresAt.UTC().Format(timeLayout), in.ExpiresAt.UTC().Format(timeLayout)
		if (a < b) != in.RefreshExpiresAt.Before(in.ExpiresAt) {
			t.Fatalf("%q < %q is %v but the times compare the other way", a, b, a < b)
		}
	})
}

func TestDecodeSessionOfAnEmptyHashIsNotFound(t *testing.T) {
	if _, err := decodeSession(map[string]string{}); err != store.ErrNotFound {
		t.Fatalf("decodeSession(empty) = %v, want ErrNotFound", err)
	}
}
