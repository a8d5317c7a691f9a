package config

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// minHMACSecret is the shortest HS256 secret accepted, in bytes.
const minHMACSecret = 32

func validateTokens(v *problemList, t *Tokens) {
	if t.Issuer == "" {
		v.add("tokens.issuer", "required")
	}
	for i, a := range t.Audience {
		if a == "" {
			v.add(indexPath("tokens.audience", i), "must not be empty")
		}
	}
	positive(v, "tokens.access_ttl", t.AccessTTL)
	positive(v, "tokens.refresh_ttl", t.RefreshTTL)
	positive(v, "tokens.session_lifetime", t.SessionLifetime)
	if t.SessionLifetime > 0 && t.RefreshTTL > t.SessionLifetime {
		v.add("tokens.refresh_ttl", fmt.Sprintf("must not exceed session_lifetime (%s)", t.SessionLifetime))
	}
	if t.RefreshTTL > 0 && t.AccessTTL > t.RefreshTTL {
		v.warn("tokens.access_ttl", fmt.Sprintf("outlives refresh_ttl (%s)", t.RefreshTTL))
	}
	if t.Leeway < 0 {
		v.add("tokens.leeway", "must not be negative")
	}
	switch grace := t.ReuseGrace(); {
	case grace < 0:
		v.add("tokens.refresh_reuse_grace", "must not be negative (0s turns replays off)")
	case grace > MaxRefreshReuseGrace:
		v.add("tokens.refresh_reuse_grace", fmt.Sprintf("must be at most %s: within it, a just-spent refresh token still yields its successor", MaxRefreshReuseGrace))
	case grace > 0 && t.RefreshTTL > 0 && grace >= t.RefreshTTL:
		v.add("tokens.refresh_reuse_grace", fmt.Sprintf("must be shorter than refresh_ttl (%s)", t.RefreshTTL))
	}
	if t.CacheSize < 0 {
		v.add("tokens.cache_size", "must be positive")
	}
	kids := map[string]int{}
	for i := range t.Keys {
		validateKey(v, indexPath("tokens.keys", i), &t.Keys[i])
		kid := t.Keys[i].Kid
		if j, dup := kids[kid]; dup && kid != "" {
			v.add(indexPath("tokens.keys", i)+".kid", fmt.Sprintf("duplicate kid %q (also tokens.keys[%d])", kid, j))
		}
		kids[kid] = i
	}
	switch {
	case len(t.Keys) == 0 && t.SigningKey != "":
		v.add("tokens.signing_key", "tokens.keys is empty (a key is then generated in data_dir)")
	case len(t.Keys) == 0:
	case t.SigningKey == "":
		v.add("tokens.keys", "at least one key must sign (not verify_only)")
	default:
		i, ok := kids[t.SigningKey]
		switch {
		case !ok:
			v.add("tokens.signing_key", fmt.Sprintf("no key with kid %q in tokens.keys", t.SigningKey))
		case t.Keys[i].VerifyOnly:
			v.add("tokens.signing_key", fmt.Sprintf("key %q is verify_only", t.SigningKey))
		}
	}
}

func validateKey(v *problemList, path string, k *Key) {
	if k.Kid == "" {
		v.add(path+".kid", "required")
	}
	switch k.Alg {
	case "HS256":
		if k.PrivateKeyFile != "" {
			v.add(path+".private_key_file", "not used by HS256; use secret or secret_file")
		}
		if k.PublicKeyFile != "" {
			v.add(path+".public_key_file", "not used by HS256; use secret or secret_file")
		}
		switch {
		case k.Secret != "" && k.SecretFile != "":
			v.add(path, "set only one of secret and secret_file")
		case k.Secret == "" && k.SecretFile == "":
			v.add(path+".secret", "HS256 needs secret (as ${ENV}) or secret_file")
		case k.Secret != "" && len(k.Secret) < minHMACSecret:
			v.add(path+".secret", fmt.Sprintf("must be at least %d bytes (got %d)", minHMACSecret, len(k.Secret)))
		}
		checkReadable(v, path+".secret_file", k.SecretFile)
	case "EdDSA", "ES256", "RS256":
		if k.Secret != "" {
			v.add(path+".secret", fmt.Sprintf("not used by %s; use private_key_file", k.Alg))
		}
		if k.SecretFile != "" {
			v.add(path+".secret_file", fmt.Sprintf("not used by %s; use private_key_file", k.Alg))
		}
		switch {
		case k.VerifyOnly && k.PrivateKeyFile == "" && k.PublicKeyFile == "":
			v.add(path, fmt.Sprintf("a verify_only %s key needs public_key_file (or private_key_file)", k.Alg))
		case !k.VerifyOnly && k.PrivateKeyFile == "":
			v.add(path+".private_key_file", fmt.Sprintf("required for a signing %s key (or set verify_only with public_key_file)", k.Alg))
		}
		checkReadable(v, path+".private_key_file", k.PrivateKeyFile)
		checkReadable(v, path+".public_key_file", k.PublicKeyFile)
	default:
		msg := fmt.Sprintf("unknown algorithm %q: use EdDSA, ES256, RS256 or HS256", k.Alg)
		for _, alg := range []string{"EdDSA", "ES256", "RS256", "HS256"} {
			if strings.EqualFold(k.Alg, alg) {
				msg = fmt.Sprintf("unknown algorithm %q (names are case-sensitive: %s)", k.Alg, alg)
			}
		}
		v.add(path+".alg", msg)
	}
}

// passwordHashProblem says what is wrong with a seed user's hash, "" if
// nothing: it must be argon2id in PHC format or bcrypt.
func passwordHashProblem(h string) string {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		if err := checkArgon2idPHC(h); err != nil {
			return "invalid argon2id hash: " + err.Error()
		}
		return ""
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if _, err := bcrypt.Cost([]byte(h)); err != nil || len(h) != 60 {
			return "invalid bcrypt hash"
		}
		return ""
	default:
		return "must be an argon2id hash ($argon2id$...) or a bcrypt hash ($2a$, $2b$ or $2y$); make one with `authgate hash-password`"
	}
}

// checkArgon2idPHC checks "$argon2id$v=19$m=M,t=T,p=P$salt$hash".
func checkArgon2idPHC(h string) error {
	parts := strings.Split(h, "$")
	if len(parts) != 6 {
		return fmt.Errorf("want $argon2id$v=19$m=M,t=T,p=P$salt$hash")
	}
	if parts[2] != "v=19" {
		return fmt.Errorf("version %q, want v=19", parts[2])
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return fmt.Errorf("parameters %q, want m=M,t=T,p=P", parts[3])
	}
	for i, name := range []string{"m", "t", "p"} {
		val, ok := strings.CutPrefix(params[i], name+"=")
		n, err := strconv.ParseUint(val, 10, 32)
		if !ok || err != nil || n == 0 || (name == "p" && n > 255) {
			return fmt.Errorf("parameter %q, want %s=<positive number>", params[i], name)
		}
	}
	for _, p := range []struct {
		what, s string
		min     int
	}{{"salt", parts[4], 8}, {"hash", parts[5], 16}} {
		b, err := base64.RawStdEncoding.Strict().DecodeString(p.s)
		if err != nil {
			return fmt.Errorf("%s is not unpadded base64", p.what)
		}
		if len(b) < p.min {
			return fmt.Errorf("%s is shorter than %d bytes", p.what, p.min)
		}
	}
	return nil
}
