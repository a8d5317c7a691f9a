package redisstore

import (
	"fmt"
	"testing"
	"time"

	"authgate/store"
)

func FuzzDecodeRevocation(f *testing.F) {
	for _, seed := range []string{
		"v1 1700000000000 sid", "v1 0 a b c", "v1 -5 x", "v1 99999999999999999999 x",
		"v1  x", "v1 1 ", "", "v2 1 s", "garbage", "v1 1\x00 s",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		sid, until, err := decodeRevocation(payload)
		if err != nil {
			return
		}
		if sid == "" {
			t.Fatalf("decodeRevocation(%q) accepted an empty session id", payload)
		}
		// What decodes re-encodes (as the revoke script writes it) to the
		// same revocation.
		again, until2, err := decodeRevocation(fmt.Sprintf("v1 %d %s", until.UnixMilli(), sid))
		if err != nil || again != sid || !until2.Equal(until) {
			t.Fatalf("round trip of %q: %q %v %v", payload, again, until2, err)
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
