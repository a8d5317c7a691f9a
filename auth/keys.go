package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"

	"authgate/config"
)

// Algorithms a key may have (config.Key.Alg).
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgHS256 = "HS256"
)

// minHMACSecret is the shortest HS256 secret accepted, in bytes (RFC 7518
// section 3.2: a key of the same size as the hash output or larger).
const minHMACSecret = 32

// minRSABits is the smallest RSA modulus accepted.
const minRSABits = 2048

// generatedKeyFile is where the key generated on first start is kept,
// relative to the data directory.
const generatedKeyFile = "keys/ed25519.pem"

// signingKey is one configured key: what verifies tokens, and what signs
// them when the key may sign.
type signingKey struct {
	kid    string
	alg    string
	verify any // ed25519.PublicKey, *ecdsa.PublicKey, *rsa.PublicKey or []byte (HS256)
	sign   any // ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey, []byte; nil for verify_only
}

// KeySet holds the keys that sign and verify access tokens: exactly one
// signs, all of them verify. It is read-only after LoadKeys and safe for
// concurrent use.
type KeySet struct {
	keys    map[string]*signingKey
	algs    []string // distinct algorithms of the keys, in config order
	signer  *signingKey
	jwks    []byte
	created bool
}

// LoadKeys builds the key set of cfg. Each error names the config field it
// comes from (`tokens.keys[1].private_key_file: ...`). When cfg.Keys is
// empty, an Ed25519 key is generated on first start into
// <dataDir>/keys/ed25519.pem (mode 0600, directory 0700) and read back on
// later starts; its kid is the RFC 7638 thumbprint of its public key.
func LoadKeys(cfg config.Tokens, dataDir string) (*KeySet, error) {
	ks := &KeySet{keys: make(map[string]*signingKey)}
	var order []*signingKey
	if len(cfg.Keys) == 0 {
		k, created, err := loadOrGenerateKey(filepath.Join(dataDir, generatedKeyFile))
		if err != nil {
			return nil, fmt.Errorf("tokens.keys: generated key: %w", err)
		}
		ks.created = created
		ks.keys[k.kid] = k
		order = append(order, k)
	}
	for i, kc := range cfg.Keys {
		k, err := loadKey(kc, fmt.Sprintf("tokens.keys[%d]", i))
		if err != nil {
			return nil, err
		}
		if _, dup := ks.keys[k.kid]; dup {
			return nil, fmt.Errorf("tokens.keys[%d].kid: duplicate kid %q", i, k.kid)
		}
		ks.keys[k.kid] = k
		order = append(order, k)
	}
	for _, k := range order {
		if !contains(ks.algs, k.alg) {
			ks.algs = append(ks.algs, k.alg)
		}
	}

	if cfg.SigningKey != "" {
		k, ok := ks.keys[cfg.SigningKey]
		switch {
		case !ok:
			return nil, fmt.Errorf("tokens.signing_key: no key with kid %q", cfg.SigningKey)
		case k.sign == nil:
			return nil, fmt.Errorf("tokens.signing_key: key %q is verify_only", cfg.SigningKey)
		}
		ks.signer = k
	} else {
		for _, k := range order {
			if k.sign != nil {
				ks.signer = k
				break
			}
		}
		if ks.signer == nil {
			return nil, errors.New("tokens.keys: every key is verify_only; one must sign")
		}
	}

	jwks, err := buildJWKS(order)
	if err != nil {
		return nil, fmt.Errorf("tokens.keys: build JWKS: %w", err)
	}
	ks.jwks = jwks
	return ks, nil
}

// JWKS returns the JSON Web Key Set of the public keys (RFC 7517), for
// /.well-known/jwks.json. HS256 secrets are never published. The slice is
// shared: do not modify it.
func (ks *KeySet) JWKS() []byte { return ks.jwks }

// SigningKID is the kid of the key that signs new tokens.
func (ks *KeySet) SigningKID() string { return ks.signer.kid }

// Generated reports whether LoadKeys created a new key file on this call
// (first start without configured keys), so the caller can log it.
func (ks *KeySet) Generated() bool { return ks.created }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// loadKey reads one configured key; field is its YAML path for errors.
func loadKey(kc config.Key, field string) (*signingKey, error) {
	if kc.Kid == "" {
		return nil, fmt.Errorf("%s.kid: required", field)
	}
	alg := kc.Alg
	if alg == "" {
		alg = AlgEdDSA
	}
	k := &signingKey{kid: kc.Kid, alg: alg}
	switch alg {
	case AlgHS256:
		if kc.PrivateKeyFile != "" {
			return nil, fmt.Errorf("%s.private_key_file: not used by HS256 (set secret or secret_file)", field)
		}
		if kc.PublicKeyFile != "" {
			return nil, fmt.Errorf("%s.public_key_file: not used by HS256 (set secret or secret_file)", field)
		}
		secret, err := loadSecret(kc, field)
		if err != nil {
			return nil, err
		}
		k.verify = secret
		if !kc.VerifyOnly {
			k.sign = secret
		}
		return k, nil
	case AlgEdDSA, AlgES256, AlgRS256:
	default:
		return nil, fmt.Errorf("%s.alg: unknown algorithm %q (want EdDSA, ES256, RS256 or HS256)", field, kc.Alg)
	}
	if kc.Secret != "" {
		return nil, fmt.Errorf("%s.secret: only HS256 keys have a secret", field)
	}
	if kc.SecretFile != "" {
		return nil, fmt.Errorf("%s.secret_file: only HS256 keys have a secret", field)
	}

	if kc.PrivateKeyFile != "" {
		priv, err := readPrivateKey(kc.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.private_key_file: %w", field, err)
		}
		pub, err := checkKeyAlg(alg, priv.Public())
		if err != nil {
			return nil, fmt.Errorf("%s.private_key_file: %w", field, err)
		}
		k.verify = pub
		if !kc.VerifyOnly {
			k.sign = priv
		}
	}
	if kc.PublicKeyFile != "" {
		pubAny, err := readPublicKey(kc.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.public_key_file: %w", field, err)
		}
		pub, err := checkKeyAlg(alg, pubAny)
		if err != nil {
			return nil, fmt.Errorf("%s.public_key_file: %w", field, err)
		}
		if k.verify != nil {
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.verify) {
				return nil, fmt.Errorf("%s.public_key_file: does not match private_key_file", field)
			}
		}
		k.verify = pub
	}
	switch {
	case k.verify == nil && kc.VerifyOnly:
		return nil, fmt.Errorf("%s.public_key_file: required (or private_key_file)", field)
	case k.verify == nil:
		return nil, fmt.Errorf("%s.private_key_file: required for a key that signs", field)
	case k.sign == nil && !kc.VerifyOnly:
		return nil, fmt.Errorf("%s.private_key_file: required for a key that signs (or set verify_only)", field)
	}
	return k, nil
}

// loadSecret returns the HS256 secret from Secret or SecretFile.
func loadSecret(kc config.Key, field string) ([]byte, error) {
	var secret []byte
	switch {
	case kc.Secret != "" && kc.SecretFile != "":
		return nil, fmt.Errorf("%s.secret_file: set either secret or secret_file, not both", field)
	case kc.Secret != "":
		secret = []byte(kc.Secret)
	case kc.SecretFile != "":
		b, err := os.ReadFile(kc.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("%s.secret_file: %w", field, err)
		}
		// Files written by editors and `echo` end with a newline that is
		// not part of the secret.
		secret = bytes.TrimRight(b, "\r\n")
		if len(secret) < minHMACSecret {
			return nil, fmt.Errorf("%s.secret_file: secret is %d bytes, need at least %d", field, len(secret), minHMACSecret)
		}
		return secret, nil
	default:
		return nil, fmt.Errorf("%s.secret: HS256 needs secret or secret_file", field)
	}
	if len(secret) < minHMACSecret {
		return nil, fmt.Errorf("%s.secret: secret is %d bytes, need at least %d", field, len(secret), minHMACSecret)
	}
	return secret, nil
}

// checkKeyAlg checks that pub is a key for alg and returns it in the form
// golang-jwt verifies with.
func checkKeyAlg(alg string, pub crypto.PublicKey) (crypto.PublicKey, error) {
	switch alg {
	case AlgEdDSA:
		if p, ok := pub.(ed25519.PublicKey); ok {
			return p, nil
		}
	case AlgES256:
		if p, ok := pub.(*ecdsa.PublicKey); ok {
			if p.Curve != elliptic.P256() {
				return nil, fmt.Errorf("ES256 needs a P-256 key, got %s", p.Curve.Params().Name)
			}
			return p, nil
		}
	case AlgRS256:
		if p, ok := pub.(*rsa.PublicKey); ok {
			if p.N.BitLen() < minRSABits {
				return nil, fmt.Errorf("RSA key has %d bits, need at least %d", p.N.BitLen(), minRSABits)
			}
			return p, nil
		}
	}
	return nil, fmt.Errorf("%s key expected, got %T", alg, pub)
}

// readPrivateKey reads a PEM private key: PKCS#8 ("PRIVATE KEY"), SEC1
// ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY").
func readPrivateKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parsePrivateKeyPEM(b)
}

func parsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM private key found")
		}
		if _, legacyEncrypted := block.Headers["Proc-Type"]; legacyEncrypted {
			return nil, errors.New("encrypted PEM keys are not supported")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "EC PARAMETERS": // written before the key by `openssl ecparam -genkey`
			continue
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("encrypted PEM keys are not supported")
		default:
			return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("unsupported private key type %T", key)
		}
		if p, ok := signer.(*ed25519.PrivateKey); ok {
			signer = *p
		}
		return signer, nil
	}
}

// readPublicKey reads a PEM public key: PKIX ("PUBLIC KEY") or PKCS#1
// ("RSA PUBLIC KEY"). A certificate is accepted too.
func readPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM public key found")
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	return key, nil
}

// loadOrGenerateKey reads the Ed25519 key at path, or creates it when the
// file does not exist. Two instances starting at once end up with the same
// key: the file appears atomically (hard link of a complete temp file) and
// the loser reads the winner's.
func loadOrGenerateKey(path string) (k *signingKey, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := generatedKeyFromPEM(b)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create key directory: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, false, fmt.Errorf("encode key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})

	tmp, err := os.CreateTemp(dir, ".ed25519-*.pem") // mode 0600
	if err != nil {
		return nil, false, fmt.Errorf("write key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("write key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, false, fmt.Errorf("write key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, false, fmt.Errorf("write key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			// Another instance won the race: use its key.
			return loadOrGenerateKey(path)
		}
		return nil, false, fmt.Errorf("write key: %w", err)
	}
	k, err = generatedKeyFromPEM(data)
	if err != nil {
		return nil, false, err
	}
	return k, true, nil
}

// generatedKeyFromPEM turns the generated key file into a signing key whose
// kid is the key's thumbprint.
func generatedKeyFromPEM(b []byte) (*signingKey, error) {
	priv, err := parsePrivateKeyPEM(b)
	if err != nil {
		return nil, err
	}
	edPriv, ok := priv.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("expected an Ed25519 key, got %T", priv)
	}
	pub := edPriv.Public().(ed25519.PublicKey)
	return &signingKey{kid: thumbprintEd25519(pub), alg: AlgEdDSA, verify: pub, sign: edPriv}, nil
}

// thumbprintEd25519 is the RFC 7638 JWK thumbprint (SHA-256, base64url) of
// an Ed25519 public key: the hash of its required members in lexical order.
func thumbprintEd25519(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwk is one public key of the JWKS (RFC 7517, 7518, 8037).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

func buildJWKS(keys []*signingKey) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range keys {
		j := jwk{Kid: k.kid, Alg: k.alg, Use: "sig"}
		switch pub := k.verify.(type) {
		case ed25519.PublicKey:
			j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64(pub)
		case *ecdsa.PublicKey:
			ecdh, err := pub.ECDH()
			if err != nil {
				return nil, fmt.Errorf("key %q: %w", k.kid, err)
			}
			raw := ecdh.Bytes() // 0x04 || X || Y, each padded to the field size
			size := (len(raw) - 1) / 2
			j.Kty, j.Crv, j.X, j.Y = "EC", "P-256", b64(raw[1:1+size]), b64(raw[1+size:])
		case *rsa.PublicKey:
			j.Kty, j.N, j.E = "RSA", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
		case []byte:
			continue // HS256 secrets are never published
		default:
			return nil, fmt.Errorf("key %q: unsupported type %T", k.kid, pub)
		}
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}
