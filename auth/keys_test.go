package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"authgate/config"
)

// testKeyMaterial holds keys generated once per test binary (RSA
// generation is slow).
type testKeyMaterial struct {
	ed, ed2    ed25519.PrivateKey
	ec, ec384  *ecdsa.PrivateKey
	rsa, rsa1k *rsa.PrivateKey
}

var (
	testKeysOnce sync.Once
	testKeys     testKeyMaterial
)

func keysForTest(t testing.TB) *testKeyMaterial {
	t.Helper()
	testKeysOnce.Do(func() {
		var err error
		check := func(e error) {
			if e != nil && err == nil {
				err = e
			}
		}
		var e error
		_, testKeys.ed, e = ed25519.GenerateKey(rand.Reader)
		check(e)
		_, testKeys.ed2, e = ed25519.GenerateKey(rand.Reader)
		check(e)
		testKeys.ec, e = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		check(e)
		testKeys.ec384, e = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		check(e)
		testKeys.rsa, e = rsa.GenerateKey(rand.Reader, 2048)
		check(e)
		testKeys.rsa1k = insecureRSA1024()
		if err != nil {
			panic(err)
		}
	})
	return &testKeys
}

// insecureRSA1024 builds a 1024-bit RSA key (refused by LoadKeys; Go's
// GenerateKey refuses to make one) from two random 512-bit primes.
func insecureRSA1024() *rsa.PrivateKey {
	for {
		p, err := rand.Prime(rand.Reader, 512)
		if err != nil {
			panic(err)
		}
		q, err := rand.Prime(rand.Reader, 512)
		if err != nil {
			panic(err)
		}
		n := new(big.Int).Mul(p, q)
		if n.BitLen() != 1024 || p.Cmp(q) == 0 {
			continue
		}
		phi := new(big.Int).Mul(new(big.Int).Sub(p, big.NewInt(1)), new(big.Int).Sub(q, big.NewInt(1)))
		d := new(big.Int).ModInverse(big.NewInt(65537), phi)
		if d == nil {
			continue
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: d, Primes: []*big.Int{p, q}}
		return k
	}
}

// writePEM writes one PEM block to a file in dir and returns its path.
func writePEM(t testing.TB, dir, name, typ string, der []byte, extra ...*pem.Block) string {
	t.Helper()
	var data []byte
	for _, b := range extra {
		data = append(data, pem.EncodeToMemory(b)...)
	}
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})...)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pkcs8(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pkix(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// hsSecret is a valid HS256 secret for tests.
const hsSecret = "0123456789abcdef0123456789abcdef-test"

// keyFiles writes one PEM file per test key to a temp dir.
type keyFiles struct {
	edPKCS8, ed2PKCS8, edPub, ed2Pub    string
	ecPKCS8, ecSEC1, ecPub, ec384PKCS8  string
	rsaPKCS1, rsaPKCS8, rsaPub, rsaPub1 string
	rsa1kPKCS1                          string
	secretFile, shortSecretFile         string
	encrypted, notAKey                  string
}

func writeKeyFiles(t testing.TB) keyFiles {
	t.Helper()
	k := keysForTest(t)
	dir := t.TempDir()
	sec1, err := x509.MarshalECPrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	f := keyFiles{
		edPKCS8:  writePEM(t, dir, "ed.pem", "PRIVATE KEY", pkcs8(t, k.ed)),
		ed2PKCS8: writePEM(t, dir, "ed2.pem", "PRIVATE KEY", pkcs8(t, k.ed2)),
		edPub:    writePEM(t, dir, "ed.pub", "PUBLIC KEY", pkix(t, k.ed.Public())),
		ed2Pub:   writePEM(t, dir, "ed2.pub", "PUBLIC KEY", pkix(t, k.ed2.Public())),
		ecPKCS8:  writePEM(t, dir, "ec.pem", "PRIVATE KEY", pkcs8(t, k.ec)),
		// `openssl ecparam -genkey` writes EC PARAMETERS before the key.
		ecSEC1:     writePEM(t, dir, "ec-sec1.pem", "EC PRIVATE KEY", sec1, &pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}),
		ecPub:      writePEM(t, dir, "ec.pub", "PUBLIC KEY", pkix(t, &k.ec.PublicKey)),
		ec384PKCS8: writePEM(t, dir, "ec384.pem", "PRIVATE KEY", pkcs8(t, k.ec384)),
		rsaPKCS1:   writePEM(t, dir, "rsa1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa)),
		rsaPKCS8:   writePEM(t, dir, "rsa8.pem", "PRIVATE KEY", pkcs8(t, k.rsa)),
		rsaPub:     writePEM(t, dir, "rsa.pub", "PUBLIC KEY", pkix(t, &k.rsa.PublicKey)),
		rsaPub1:    writePEM(t, dir, "rsa1.pub", "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)),
		rsa1kPKCS1: writePEM(t, dir, "rsa1k.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k.rsa1k)),
		encrypted:  writePEM(t, dir, "enc.pem", "ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}),
		notAKey:    writePEM(t, dir, "cert.pem", "CERTIFICATE REQUEST", []byte{1, 2, 3}),
	}
	f.secretFile = filepath.Join(dir, "secret")
	if err := os.WriteFile(f.secretFile, []byte(hsSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.shortSecretFile = filepath.Join(dir, "short")
	if err := os.WriteFile(f.shortSecretFile, []byte("too-short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func tokensConfig(keys ...config.Key) config.Tokens {
	return config.Tokens{
		Issuer:    "authgate",
		Audience:  []string{"authgate"},
		AccessTTL: 15 * time.Minute,
		Leeway:    30 * time.Second,
		Keys:      keys,
		CacheSize: 1000,
	}
}

func TestLoadKeysReadsEveryKeyFormat(t *testing.T) {
	f := writeKeyFiles(t)
	tests := []struct {
		name       string
		key        config.Key
		wantSigner bool
	}{
		{"EdDSA PKCS#8", config.Key{Kid: "k", Alg: "EdDSA", PrivateKeyFile: f.edPKCS8}, true},
		{"alg defaults to EdDSA", config.Key{Kid: "k", PrivateKeyFile: f.edPKCS8}, true},
		{"EdDSA private and matching public", config.Key{Kid: "k", PrivateKeyFile: f.edPKCS8, PublicKeyFile: f.edPub}, true},
		{"ES256 PKCS#8", config.Key{Kid: "k", Alg: "ES256", PrivateKeyFile: f.ecPKCS8}, true},
		{"ES256 SEC1 after EC PARAMETERS", config.Key{Kid: "k", Alg: "ES256", PrivateKeyFile: f.ecSEC1}, true},
		{"RS256 PKCS#1", config.Key{Kid: "k", Alg: "RS256", PrivateKeyFile: f.rsaPKCS1}, true},
		{"RS256 PKCS#8", config.Key{Kid: "k", Alg: "RS256", PrivateKeyFile: f.rsaPKCS8}, true},
		{"HS256 inline secret", config.Key{Kid: "k", Alg: "HS256", Secret: hsSecret}, true},
		{"HS256 secret file with newline", config.Key{Kid: "k", Alg: "HS256", SecretFile: f.secretFile}, true},
		{"verify_only EdDSA public key", config.Key{Kid: "k", Alg: "EdDSA", PublicKeyFile: f.edPub, VerifyOnly: true}, false},
		{"verify_only ES256 public key", config.Key{Kid: "k", Alg: "ES256", PublicKeyFile: f.ecPub, VerifyOnly: true}, false},
		{"verify_only RS256 PKIX public key", config.Key{Kid: "k", Alg: "RS256", PublicKeyFile: f.rsaPub, VerifyOnly: true}, false},
		{"verify_only RS256 PKCS#1 public key", config.Key{Kid: "k", Alg: "RS256", PublicKeyFile: f.rsaPub1, VerifyOnly: true}, false},
		{"verify_only with private key file", config.Key{Kid: "k", Alg: "RS256", PrivateKeyFile: f.rsaPKCS1, VerifyOnly: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A second signing key makes the set loadable when tt.key cannot sign.
			cfg := tokensConfig(tt.key, config.Key{Kid: "signer", Alg: "HS256", Secret: hsSecret})
			ks, err := LoadKeys(cfg, t.TempDir())
			if err != nil {
				t.Fatalf("LoadKeys: %v", err)
			}
			k := ks.keys["k"]
			if k == nil || k.verify == nil {
				t.Fatalf("key k not loaded: %+v", k)
			}
			if got := k.sign != nil; got != tt.wantSigner {
				t.Errorf("can sign = %v, want %v", got, tt.wantSigner)
			}
			wantSigning := "signer"
			if tt.wantSigner {
				wantSigning = "k"
			}
			if ks.SigningKID() != wantSigning {
				t.Errorf("SigningKID = %q, want %q", ks.SigningKID(), wantSigning)
			}
			if string(k.alg) == AlgHS256 && string(k.verify.([]byte)) != hsSecret {
				t.Errorf("secret = %q, want %q (trailing newline of the file dropped)", k.verify, hsSecret)
			}
		})
	}
}

func TestLoadKeysErrorsNameTheField(t *testing.T) {
	f := writeKeyFiles(t)
	good := config.Key{Kid: "good", Alg: "EdDSA", PrivateKeyFile: f.edPKCS8}
	tests := []struct {
		name    string
		cfg     config.Tokens
		wantErr string
	}{
		{"missing private key file", tokensConfig(good, config.Key{Kid: "b", PrivateKeyFile: "/nonexistent/key.pem"}), "tokens.keys[1].private_key_file: "},
		{"missing kid", tokensConfig(good, config.Key{PrivateKeyFile: f.edPKCS8}), "tokens.keys[1].kid: required"},
		{"duplicate kid", tokensConfig(good, config.Key{Kid: "good", Alg: "HS256", Secret: hsSecret}), "tokens.keys[1].kid: duplicate"},
		{"unknown alg", tokensConfig(config.Key{Kid: "b", Alg: "PS256", PrivateKeyFile: f.rsaPKCS1}), "tokens.keys[0].alg: unknown"},
		{"alg none", tokensConfig(config.Key{Kid: "b", Alg: "none"}), "tokens.keys[0].alg: unknown"},
		{"EC key declared EdDSA", tokensConfig(config.Key{Kid: "b", Alg: "EdDSA", PrivateKeyFile: f.ecPKCS8}), "tokens.keys[0].private_key_file: EdDSA key expected"},
		{"Ed25519 key declared RS256", tokensConfig(config.Key{Kid: "b", Alg: "RS256", PrivateKeyFile: f.edPKCS8}), "tokens.keys[0].private_key_file: RS256 key expected"},
		{"P-384 key for ES256", tokensConfig(config.Key{Kid: "b", Alg: "ES256", PrivateKeyFile: f.ec384PKCS8}), "tokens.keys[0].private_key_file: ES256 needs a P-256 key"},
		{"1024-bit RSA", tokensConfig(config.Key{Kid: "b", Alg: "RS256", PrivateKeyFile: f.rsa1kPKCS1}), "tokens.keys[0].private_key_file: RSA key has 1024 bits"},
		{"encrypted key", tokensConfig(config.Key{Kid: "b", PrivateKeyFile: f.encrypted}), "tokens.keys[0].private_key_file: encrypted"},
		{"not a key", tokensConfig(config.Key{Kid: "b", PrivateKeyFile: f.notAKey}), "tokens.keys[0].private_key_file: PEM block"},
		{"public key given as private", tokensConfig(config.Key{Kid: "b", PrivateKeyFile: f.edPub}), "tokens.keys[0].private_key_file: PEM block \"PUBLIC KEY\""},
		{"public key does not match private", tokensConfig(config.Key{Kid: "b", PrivateKeyFile: f.edPKCS8, PublicKeyFile: f.ed2Pub}), "tokens.keys[0].public_key_file: does not match"},
		{"signing key without private key", tokensConfig(good, config.Key{Kid: "b", PublicKeyFile: f.edPub}), "tokens.keys[1].private_key_file: required"},
		{"verify_only without any key", tokensConfig(good, config.Key{Kid: "b", VerifyOnly: true}), "tokens.keys[1].public_key_file: required"},
		{"short HS256 secret", tokensConfig(config.Key{Kid: "b", Alg: "HS256", Secret: "short"}), "tokens.keys[0].secret: secret is 5 bytes"},
		{"short HS256 secret file", tokensConfig(config.Key{Kid: "b", Alg: "HS256", SecretFile: f.shortSecretFile}), "tokens.keys[0].secret_file: secret is 9 bytes"},
		{"HS256 secret and file", tokensConfig(config.Key{Kid: "b", Alg: "HS256", Secret: hsSecret, SecretFile: f.secretFile}), "tokens.keys[0].secret_file: set either"},
		{"HS256 without secret", tokensConfig(config.Key{Kid: "b", Alg: "HS256"}), "tokens.keys[0].secret: HS256 needs"},
		{"HS256 with a PEM file", tokensConfig(config.Key{Kid: "b", Alg: "HS256", Secret: hsSecret, PrivateKeyFile: f.edPKCS8}), "tokens.keys[0].private_key_file: not used by HS256"},
		{"secret on an EdDSA key", tokensConfig(config.Key{Kid: "b", Secret: hsSecret, PrivateKeyFile: f.edPKCS8}), "tokens.keys[0].secret: only HS256"},
		{"unknown signing_key", func() config.Tokens { c := tokensConfig(good); c.SigningKey = "nope"; return c }(), "tokens.signing_key: no key with kid \"nope\""},
		{"verify_only signing_key", func() config.Tokens {
			c := tokensConfig(good, config.Key{Kid: "old", PublicKeyFile: f.ed2Pub, VerifyOnly: true})
			c.SigningKey = "old"
			return c
		}(), "tokens.signing_key: key \"old\" is verify_only"},
		{"no key can sign", tokensConfig(config.Key{Kid: "old", PublicKeyFile: f.ed2Pub, VerifyOnly: true}), "tokens.keys: every key is verify_only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := LoadKeys(tt.cfg, t.TempDir())
			if err == nil {
				t.Fatalf("LoadKeys succeeded, want error %q", tt.wantErr)
			}
			if ks != nil {
				t.Errorf("LoadKeys returned a key set with its error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadKeysSigningKeyChoosesTheSigner(t *testing.T) {
	f := writeKeyFiles(t)
	cfg := tokensConfig(
		config.Key{Kid: "old", PrivateKeyFile: f.ed2PKCS8, VerifyOnly: true},
		config.Key{Kid: "a", PrivateKeyFile: f.edPKCS8},
		config.Key{Kid: "b", Alg: "ES256", PrivateKeyFile: f.ecPKCS8},
	)
	ks, err := LoadKeys(cfg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if ks.SigningKID() != "a" {
		t.Errorf("default signer = %q, want the first key that is not verify_only (a)", ks.SigningKID())
	}
	cfg.SigningKey = "b"
	if ks, err = LoadKeys(cfg, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if ks.SigningKID() != "b" {
		t.Errorf("signer = %q, want signing_key b", ks.SigningKID())
	}
}

func TestLoadKeysGeneratesKeyOnFirstStartAndReusesIt(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := tokensConfig()

	first, err := LoadKeys(cfg, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Generated() {
		t.Error("Generated() = false on first start")
	}
	path := filepath.Join(dataDir, "keys", "ed25519.pem")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	dst, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v, want 0700", dst.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("key dir holds %d files, want only ed25519.pem (temp file left behind?)", len(entries))
	}

	second, err := LoadKeys(cfg, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if second.Generated() {
		t.Error("Generated() = true on second start: key not reused")
	}
	if first.SigningKID() != second.SigningKID() {
		t.Fatalf("kid changed across starts: %q then %q", first.SigningKID(), second.SigningKID())
	}
	pub := second.keys[second.SigningKID()].verify.(ed25519.PublicKey)
	if want := thumbprintEd25519(pub); second.SigningKID() != want {
		t.Errorf("kid %q is not the key's thumbprint %q", second.SigningKID(), want)
	}

	// A token issued before the restart verifies after it.
	tok, _, err := NewTokens(cfg, first).Issue("u1", "s1", "alice", "", nil, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTokens(cfg, second).Verify(tok); err != nil {
		t.Errorf("token from before the restart refused: %v", err)
	}
}

func TestThumbprintMatchesRFC8037(t *testing.T) {
	// RFC 8037 appendix A.3.
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := thumbprintEd25519(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("thumbprint = %q, want %q", got, want)
	}
}

// parseJWKS turns a JWKS back into public keys by kid, the way a relying
// party would.
func parseJWKS(t *testing.T, data []byte) map[string]crypto.PublicKey {
	t.Helper()
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v", err)
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWKS member %q: %v", s, err)
		}
		return b
	}
	out := make(map[string]crypto.PublicKey)
	for _, k := range set.Keys {
		if k["use"] != "sig" {
			t.Errorf("key %s: use = %q, want sig", k["kid"], k["use"])
		}
		if _, ok := k["d"]; ok {
			t.Errorf("key %s publishes a private part", k["kid"])
		}
		switch k["kty"] {
		case "OKP":
			if k["crv"] != "Ed25519" || k["alg"] != "EdDSA" {
				t.Errorf("OKP key %s: crv %q alg %q", k["kid"], k["crv"], k["alg"])
			}
			out[k["kid"]] = ed25519.PublicKey(dec(k["x"]))
		case "EC":
			if k["crv"] != "P-256" || k["alg"] != "ES256" {
				t.Errorf("EC key %s: crv %q alg %q", k["kid"], k["crv"], k["alg"])
			}
			x, y := dec(k["x"]), dec(k["y"])
			if len(x) != 32 || len(y) != 32 {
				t.Errorf("EC key %s: x/y are %d/%d bytes, want 32", k["kid"], len(x), len(y))
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				t.Errorf("EC key %s: %v", k["kid"], err)
				continue
			}
			out[k["kid"]] = pub
		case "RSA":
			if k["alg"] != "RS256" {
				t.Errorf("RSA key %s: alg %q", k["kid"], k["alg"])
			}
			out[k["kid"]] = &rsa.PublicKey{N: new(big.Int).SetBytes(dec(k["n"])), E: int(new(big.Int).SetBytes(dec(k["e"])).Int64())}
		default:
			t.Errorf("key %s: unexpected kty %q", k["kid"], k["kty"])
		}
	}
	return out
}

func TestJWKSPublishesPublicKeysThatVerifyTokens(t *testing.T) {
	f := writeKeyFiles(t)
	keys := []config.Key{
		{Kid: "ed", Alg: "EdDSA", PrivateKeyFile: f.edPKCS8},
		{Kid: "ec", Alg: "ES256", PrivateKeyFile: f.ecSEC1},
		{Kid: "rsa", Alg: "RS256", PrivateKeyFile: f.rsaPKCS1},
		{Kid: "hs", Alg: "HS256", Secret: hsSecret},
		{Kid: "old", Alg: "EdDSA", PublicKeyFile: f.ed2Pub, VerifyOnly: true},
	}
	ks, err := LoadKeys(tokensConfig(keys...), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	published := parseJWKS(t, ks.JWKS())
	if _, ok := published["hs"]; ok {
		t.Fatal("JWKS publishes the HS256 secret")
	}
	if strings.Contains(string(ks.JWKS()), base64.RawURLEncoding.EncodeToString([]byte(hsSecret))) {
		t.Fatal("JWKS contains the HS256 secret")
	}
	if _, ok := published["old"]; !ok {
		t.Error("JWKS lacks the verify_only key: tokens it signed cannot be checked by relying parties")
	}
	for _, kid := range []string{"ed", "ec", "rsa"} {
		t.Run(kid, func(t *testing.T) {
			cfg := tokensConfig(keys...)
			cfg.SigningKey = kid
			ks, err := LoadKeys(cfg, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			tok, _, err := NewTokens(cfg, ks).Issue("u1", "s1", "alice", "", nil, false, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			pub, ok := published[kid]
			if !ok {
				t.Fatalf("kid %q not in JWKS", kid)
			}
			_, err = jwt.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil },
				jwt.WithValidMethods([]string{ks.keys[kid].alg}))
			if err != nil {
				t.Errorf("token does not verify with the JWKS key: %v", err)
			}
		})
	}
}
