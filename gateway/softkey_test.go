package gateway

import (
	"testing"

	"authgate/mfa/mfatest"
)

// softKey is package mfatest's software passkey, failing the test on
// error: it answers the JSON routes' options as a browser posts.
type softKey struct {
	t testing.TB
	a *mfatest.Authenticator
}

func newSoftKey(t testing.TB, origin string) *softKey {
	a, err := mfatest.New(origin)
	if err != nil {
		t.Fatal(err)
	}
	return &softKey{t: t, a: a}
}

func (k *softKey) create(options []byte) []byte {
	k.t.Helper()
	b, err := k.a.Create(options)
	if err != nil {
		k.t.Fatalf("create: %v (options %s)", err, options)
	}
	return b
}

func (k *softKey) get(options []byte) []byte {
	k.t.Helper()
	b, err := k.a.Get(options)
	if err != nil {
		k.t.Fatalf("get: %v (options %s)", err, options)
	}
	return b
}
