package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"authgate/config"
)

// Password hashing errors; compare with errors.Is.
var (
	// ErrPasswordTooLong: the password has more than 4 × MaxLength bytes
	// and was refused before any hashing (handlers answer 400).
	ErrPasswordTooLong = errors.New("password too long")
	// ErrBadHash: a stored hash is malformed, of an unknown kind, or has
	// parameters too costly to verify.
	ErrBadHash = errors.New("malformed password hash")
	// ErrOverloaded: every hashing slot stayed busy until the caller's
	// context ended. Overload, not an outage: nothing else failed. It also
	// matches the context's error.
	ErrOverloaded = errors.New("password hashing at capacity")
)

const (
	saltLen = 16
	keyLen  = 32

	// Limits on parameters read from a stored argon2id hash, so that a bad
	// hash (a typo in the config's seed users, a tampered store) cannot make
	// one login take minutes or gigabytes.
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 100
	minArgonSalt      = 8
	maxArgonSalt      = 64
	minArgonKey       = 16
	maxArgonKey       = 64

	// maxBcryptCost bounds the bcrypt cost accepted from a stored hash
	// (cost 16 is about five seconds; the default is 10).
	maxBcryptCost = 16
	// bcryptMaxPassword: bcrypt ignores bytes past the 72nd.
	bcryptMaxPassword = 72
)

// Hasher hashes and verifies passwords with argon2id, and verifies legacy
// bcrypt hashes. At most MaxConcurrent hashes are computed at once; callers
// beyond that wait, and give up with ErrOverloaded when their context ends.
// Each argon2id hash allocates Memory KiB, but the process's resident
// memory grows by more than MaxConcurrent × Memory under a flood (freed
// blocks wait for the garbage collector): docs/security.md states the
// measured bound. It is safe for concurrent use.
type Hasher struct {
	memory      uint32
	iterations  uint32
	parallelism uint8
	maxBytes    int
	sem         chan struct{}
	dummySalt   []byte
	dummyKey    []byte
	// span, when set (SetTracer), starts a span and returns its end.
	span func(ctx context.Context, name string) func()
}

// SetTracer makes every Hash and Verify, the wait for a hashing slot
// included, a span: start starts one named name under ctx and returns the
// function that ends it (package tracing). VerifyDummy is named as Verify
// is, so that a trace does not tell an unknown username either. Call it
// before the Hasher is used.
func (h *Hasher) SetTracer(start func(ctx context.Context, name string) func()) { h.span = start }

// NewHasher returns a Hasher for cfg, whose defaults the config package
// has applied. Zero values fall back to the same defaults (OWASP argon2id:
// 19456 KiB, 2 iterations, parallelism 1; 2 × CPUs at once; 128 characters).
func NewHasher(cfg config.Passwords) *Hasher {
	h := &Hasher{
		memory:      cfg.Memory,
		iterations:  cfg.Iterations,
		parallelism: cfg.Parallelism,
		maxBytes:    4 * cfg.MaxLength,
	}
	if h.memory == 0 {
		h.memory = 19456
	}
	if h.iterations == 0 {
		h.iterations = 2
	}
	if h.parallelism == 0 {
		h.parallelism = 1
	}
	if cfg.MaxLength <= 0 {
		h.maxBytes = 4 * 128
	}
	n := cfg.MaxConcurrent
	if n <= 0 {
		n = 2 * runtime.NumCPU()
	}
	h.sem = make(chan struct{}, n)
	// VerifyDummy compares against this fixed, unguessable key: it only has
	// to cost what a real verification costs.
	h.dummySalt = make([]byte, saltLen)
	h.dummyKey = make([]byte, keyLen)
	_, _ = rand.Read(h.dummySalt)
	_, _ = rand.Read(h.dummyKey)
	return h
}

// Hash returns the argon2id hash of password in PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (unpadded standard base64,
// 16-byte salt, 32-byte key).
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if h.span != nil {
		defer h.span(ctx, "password.hash")()
	}
	if len(password) > h.maxBytes {
		return "", ErrPasswordTooLong
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.iterations, h.memory, h.parallelism, keyLen)
	h.release()
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.memory, h.iterations, h.parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify reports whether password matches encoded, an argon2id PHC string
// (with any parameters within sane bounds) or a bcrypt hash ($2a$, $2b$,
// $2y$). rehash is true when the password matched but encoded is not an
// argon2id hash with the configured parameters, so the caller should store
// a fresh Hash. Errors: ErrPasswordTooLong, ErrBadHash, or the context's
// error when it ended while waiting for a hashing slot.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	if h.span != nil {
		defer h.span(ctx, "password.verify")()
	}
	if len(password) > h.maxBytes {
		return false, false, ErrPasswordTooLong
	}
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, err := parseArgon2id(encoded)
		if err != nil {
			return false, false, err
		}
		if err := h.acquire(ctx); err != nil {
			return false, false, fmt.Errorf("verify password: %w", err)
		}
		key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
		h.release()
		if subtle.ConstantTimeCompare(key, p.key) != 1 {
			return false, false, nil
		}
		rehash = p.memory != h.memory || p.time != h.iterations || p.threads != h.parallelism ||
			len(p.key) != keyLen || len(p.salt) != saltLen
		return true, rehash, nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		cost, err := bcrypt.Cost([]byte(encoded))
		if err != nil {
			return false, false, fmt.Errorf("%w: bcrypt: %v", ErrBadHash, err)
		}
		if cost > maxBcryptCost {
			return false, false, fmt.Errorf("%w: bcrypt cost %d above %d", ErrBadHash, cost, maxBcryptCost)
		}
		if err := h.acquire(ctx); err != nil {
			return false, false, fmt.Errorf("verify password: %w", err)
		}
		// bcrypt.CompareHashAndPassword compares only the first 72 bytes
		// (and its constant-time compare of the result): a longer password
		// is still hashed, to cost the same, but never matches.
		err = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password))
		h.release()
		switch {
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, nil
		case err != nil:
			return false, false, fmt.Errorf("%w: bcrypt: %v", ErrBadHash, err)
		case len(password) > bcryptMaxPassword:
			return false, false, nil
		}
		return true, true, nil
	default:
		return false, false, fmt.Errorf("%w: unknown hash kind", ErrBadHash)
	}
}

// VerifyDummy costs what Verify costs against a hash with the configured
// parameters, and always fails. Call it for unknown users so that response
// times do not tell which usernames exist. It returns ErrPasswordTooLong or
// the context's error like Verify does, and nil otherwise.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	if h.span != nil {
		defer h.span(ctx, "password.verify")()
	}
	if len(password) > h.maxBytes {
		return ErrPasswordTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	key := argon2.IDKey([]byte(password), h.dummySalt, h.iterations, h.memory, h.parallelism, keyLen)
	h.release()
	subtle.ConstantTimeCompare(key, h.dummyKey)
	return nil
}

// acquire takes a hashing slot, or returns ErrOverloaded (wrapping
// ctx.Err()) when ctx ends while every slot is busy.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrOverloaded, ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }

// Reserve takes one hashing slot as a hash would, until release is
// called: work that must count against MaxConcurrent (and tests that
// simulate a flood) use it.
func (h *Hasher) Reserve(ctx context.Context) (release func(), err error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	return h.release, nil
}

// argon2Params is a parsed argon2id PHC string.
type argon2Params struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$salt$key, refusing
// parameters outside sane bounds.
func parseArgon2id(s string) (argon2Params, error) {
	var p argon2Params
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, fmt.Errorf("%w: argon2id: want $argon2id$v=19$m=,t=,p=$salt$key", ErrBadHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, fmt.Errorf("%w: argon2id: unsupported version %q", ErrBadHash, parts[2])
	}
	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			return p, fmt.Errorf("%w: argon2id: parameter %q", ErrBadHash, kv)
		}
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return p, fmt.Errorf("%w: argon2id: parameter %q", ErrBadHash, kv)
		}
		var idx int
		switch name {
		case "m":
			idx, p.memory = 0, uint32(n)
		case "t":
			idx, p.time = 1, uint32(n)
		case "p":
			if n > 255 {
				return p, fmt.Errorf("%w: argon2id: parallelism %d above 255", ErrBadHash, n)
			}
			idx, p.threads = 2, uint8(n)
		default:
			return p, fmt.Errorf("%w: argon2id: unknown parameter %q", ErrBadHash, name)
		}
		if seen[idx] {
			return p, fmt.Errorf("%w: argon2id: repeated parameter %q", ErrBadHash, name)
		}
		seen[idx] = true
	}
	switch {
	case !seen[0] || !seen[1] || !seen[2]:
		return p, fmt.Errorf("%w: argon2id: want m, t and p", ErrBadHash)
	case p.threads == 0:
		return p, fmt.Errorf("%w: argon2id: parallelism 0", ErrBadHash)
	case p.time == 0 || p.time > maxArgonTime:
		return p, fmt.Errorf("%w: argon2id: iterations %d outside 1..%d", ErrBadHash, p.time, maxArgonTime)
	case p.memory < 8*uint32(p.threads) || p.memory > maxArgonMemoryKiB:
		return p, fmt.Errorf("%w: argon2id: memory %d KiB outside %d..%d", ErrBadHash, p.memory, 8*uint32(p.threads), maxArgonMemoryKiB)
	}
	var err error
	if p.salt, err = decodePHC(parts[4]); err != nil || len(p.salt) < minArgonSalt || len(p.salt) > maxArgonSalt {
		return p, fmt.Errorf("%w: argon2id: salt must be %d..%d bytes of unpadded base64", ErrBadHash, minArgonSalt, maxArgonSalt)
	}
	if p.key, err = decodePHC(parts[5]); err != nil || len(p.key) < minArgonKey || len(p.key) > maxArgonKey {
		return p, fmt.Errorf("%w: argon2id: hash must be %d..%d bytes of unpadded base64", ErrBadHash, minArgonKey, maxArgonKey)
	}
	return p, nil
}

// decodePHC decodes the B64 of the PHC format (standard alphabet, no
// padding); padded input, as some tools write it, is tolerated.
func decodePHC(s string) ([]byte, error) {
	return base64.RawStdEncoding.Strict().DecodeString(strings.TrimRight(s, "="))
}
