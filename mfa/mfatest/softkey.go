// Package mfatest plays the user's side of second factors in tests: a
// software passkey that answers the options package mfa hands out with the
// JSON a browser would post, so that passkey ceremonies can be tested end to
// end without a browser. (Headless Chromium's virtual authenticator covers
// the real browser in e2e/.)
//
// It is a test helper, not an authenticator to trust: its key lives in
// memory and it always reports user presence and verification.
package mfatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

var b64 = base64.RawURLEncoding

// Authenticator is one software passkey: an ES256 (P-256) credential with
// "none" attestation.
type Authenticator struct {
	// Origin is the origin the "browser" reports in clientDataJSON; RPID
	// the relying-party id whose hash starts the authenticator data
	// (default: the origin's host).
	Origin, RPID string
	// Counter is the signature counter; Get adds one before signing.
	Counter uint32
	// Key signs; SignWith, when set, signs instead (a forged assertion).
	Key, SignWith *ecdsa.PrivateKey
	id            []byte
}

// New makes an authenticator for origin.
func New(origin string) (*Authenticator, error) {
	u, err := url.Parse(origin)
	if err != nil {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return &Authenticator{Origin: origin, RPID: u.Hostname(), Key: k, id: id}, nil
}

// ID is the credential ID, base64url as package mfa names passkeys.
func (a *Authenticator) ID() string { return b64.EncodeToString(a.id) }

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) authData(flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(a.RPID))
	d := append(h[:], flags)
	d = binary.BigEndian.AppendUint32(d, a.Counter)
	return append(d, attested...)
}

type options struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
	} `json:"publicKey"`
}

// Create answers navigator.credentials.create() for the options JSON
// ({"publicKey": {...}}) with the PublicKeyCredential JSON.
func (a *Authenticator) Create(opts []byte) ([]byte, error) {
	var o options
	if err := json.Unmarshal(opts, &o); err != nil || o.PublicKey.Challenge == "" {
		return nil, fmt.Errorf("mfatest: creation options without a challenge: %v", err)
	}
	cose, err := webauthncbor.Marshal(map[int]any{
		1: 2, 3: -7, -1: 1, // EC2, ES256, P-256
		-2: a.Key.PublicKey.X.FillBytes(make([]byte, 32)),
		-3: a.Key.PublicKey.Y.FillBytes(make([]byte, 32)),
	})
	if err != nil {
		return nil, err
	}
	attested := make([]byte, 16) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.id)))
	attested = append(attested, a.id...)
	attested = append(attested, cose...)
	att, err := webauthncbor.Marshal(map[string]any{
		"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(0x45, attested), // UP, UV, AT
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": a.ID(), "rawId": a.ID(), "type": "public-key",
		"response": map[string]any{
			"attestationObject": b64.EncodeToString(att),
			"clientDataJSON":    b64.EncodeToString(a.clientData("webauthn.create", o.PublicKey.Challenge)),
		},
	})
}

// Get answers navigator.credentials.get() for the options JSON with the
// PublicKeyCredential JSON of an assertion.
func (a *Authenticator) Get(opts []byte) ([]byte, error) {
	var o options
	if err := json.Unmarshal(opts, &o); err != nil || o.PublicKey.Challenge == "" {
		return nil, fmt.Errorf("mfatest: request options without a challenge: %v", err)
	}
	a.Counter++
	ad := a.authData(0x05, nil) // UP, UV
	cd := a.clientData("webauthn.get", o.PublicKey.Challenge)
	cdh := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdh[:]...))
	key := a.Key
	if a.SignWith != nil {
		key = a.SignWith
	}
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id": a.ID(), "rawId": a.ID(), "type": "public-key",
		"response": map[string]any{
			"authenticatorData": b64.EncodeToString(ad),
			"clientDataJSON":    b64.EncodeToString(cd),
			"signature":         b64.EncodeToString(sig),
		},
	})
}
