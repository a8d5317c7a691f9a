package auth

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"authgate/config"
)

// fastPasswords keeps argon2id cheap in tests.
var fastPasswords = config.Passwords{Memory: 64, Iterations: 1, Parallelism: 1, MaxConcurrent: 2, MinLength: 8, MaxLength: 16}

func TestHashIsArgon2idPHCThatVerifies(t *testing.T) {
	h := NewHasher(config.Passwords{Memory: 1024, Iterations: 3, Parallelism: 2, MaxConcurrent: 1, MaxLength: 128})
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=1024,t=3,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(enc) {
		t.Fatalf("hash %q is not argon2id PHC with a 16-byte salt and a 32-byte key", enc)
	}
	ok, rehash, err := h.Verify(ctx, enc, "correct horse")
	if err != nil || !ok || rehash {
		t.Errorf("Verify(right password) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	ok, _, err = h.Verify(ctx, enc, "correct horsE")
	if err != nil || ok {
		t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
	}
	again, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if again == enc {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestVerifyArgon2idReferenceVector(t *testing.T) {
	// From the reference implementation's tests (phc-winner-argon2 test.c).
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	h := NewHasher(fastPasswords)
	ok, rehash, err := h.Verify(context.Background(), ref, "password")
	if err != nil || !ok {
		t.Fatalf("Verify(reference) = %v, %v; want true", ok, err)
	}
	if !rehash {
		t.Error("rehash = false for a hash with other parameters than configured")
	}
}

func TestVerifyAsksRehashWhenParametersChanged(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(fastPasswords)
	enc, err := old.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	stronger := fastPasswords
	stronger.Iterations = 2
	ok, rehash, err := NewHasher(stronger).Verify(ctx, enc, "pw")
	if err != nil || !ok || !rehash {
		t.Errorf("Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	_, rehash, _ = NewHasher(stronger).Verify(ctx, enc, "wrong")
	if rehash {
		t.Error("rehash asked for a wrong password")
	}
}

func TestVerifyBcrypt(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(config.Passwords{Memory: 64, Iterations: 1, Parallelism: 1, MaxConcurrent: 2, MaxLength: 128})
	gen, err := bcrypt.GenerateFromPassword([]byte("hunter22"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	long72 := strings.Repeat("a", 72)
	gen72, err := bcrypt.GenerateFromPassword([]byte(long72), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		hash     string
		password string
		wantOK   bool
	}{
		{"$2a$ right password", string(gen), "hunter22", true},
		{"$2a$ wrong password", string(gen), "hunter23", false},
		{"$2b$ right password", "$2b$" + string(gen[4:]), "hunter22", true},
		{"$2y$ right password", "$2y$" + string(gen[4:]), "hunter22", true},
		// Openwall crypt_blowfish test vector.
		{"known vector", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U", true},
		{"72 bytes verify", string(gen72), long72, true},
		// bcrypt would ignore bytes past 72: such a password must not match.
		{"73 bytes whose first 72 match", string(gen72), long72 + "b", false},
		{"200 bytes whose first 72 match", string(gen72), long72 + strings.Repeat("b", 128), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, tt.hash, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v", ok, tt.wantOK)
			}
			if rehash != tt.wantOK {
				t.Errorf("rehash = %v, want %v (a matched bcrypt hash moves to argon2id)", rehash, tt.wantOK)
			}
		})
	}
}

func TestVerifyRefusesMalformedOrCostlyHashes(t *testing.T) {
	h := NewHasher(fastPasswords)
	const salt, key = "c29tZXNhbHQ", "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	tests := []struct{ name, hash string }{
		{"empty", ""},
		{"plain text", "password"},
		{"unknown scheme", "$6$rounds=5000$salt$hash"},
		{"argon2i", "$argon2i$v=19$m=65536,t=2,p=1$" + salt + "$" + key},
		{"argon2id v=16", "$argon2id$v=16$m=65536,t=2,p=1$" + salt + "$" + key},
		{"argon2id without version", "$argon2id$m=65536,t=2,p=1$" + salt + "$" + key},
		{"memory above 1 GiB", "$argon2id$v=19$m=1048577,t=2,p=1$" + salt + "$" + key},
		{"memory huge", "$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + key},
		{"memory overflowing uint32", "$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + key},
		{"iterations above 100", "$argon2id$v=19$m=64,t=101,p=1$" + salt + "$" + key},
		{"zero iterations", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"zero parallelism", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"parallelism above 255", "$argon2id$v=19$m=65536,t=1,p=256$" + salt + "$" + key},
		{"memory below 8 × parallelism", "$argon2id$v=19$m=8,t=1,p=2$" + salt + "$" + key},
		{"missing parameter", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key},
		{"repeated parameter", "$argon2id$v=19$m=64,t=1,t=2$" + salt + "$" + key},
		{"unknown parameter", "$argon2id$v=19$m=64,t=1,p=1,x=1$" + salt + "$" + key},
		{"negative parameter", "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"extra field", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$x"},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$c29tZQ$" + key},
		{"key too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$CTFhFdXPJO1aFaMa"},
		{"bad base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$!!!!" + key},
		{"bcrypt cost 17", "$2a$17$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
		{"bcrypt truncated", "$2a$05$CCCCCCCCCCCCC"},
		{"bcrypt $2x$", "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), tt.hash, "password")
			if !errors.Is(err, ErrBadHash) {
				t.Errorf("err = %v, want ErrBadHash", err)
			}
			if ok || rehash {
				t.Errorf("ok, rehash = %v, %v with a bad hash", ok, rehash)
			}
		})
	}
}

func TestTooLongPasswordRefusedBeforeHashing(t *testing.T) {
	h := NewHasher(fastPasswords) // MaxLength 16: up to 64 bytes
	ctx := context.Background()
	enc, err := h.Hash(ctx, "pw")
	if err != nil {
		t.Fatal(err)
	}
	// Fill every slot: a call that tried to hash would block.
	for range cap(h.sem) {
		h.sem <- struct{}{}
	}
	tooLong := strings.Repeat("é", 33) // 66 bytes, 33 characters
	if _, err := h.Hash(ctx, tooLong); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("Hash: err %v, want ErrPasswordTooLong", err)
	}
	if _, _, err := h.Verify(ctx, enc, tooLong); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("Verify: err %v, want ErrPasswordTooLong", err)
	}
	if err := h.VerifyDummy(ctx, tooLong); !errors.Is(err, ErrPasswordTooLong) {
		t.Errorf("VerifyDummy: err %v, want ErrPasswordTooLong", err)
	}
	for range cap(h.sem) {
		<-h.sem
	}
	// Exactly 4 × MaxLength bytes is allowed.
	limit := strings.Repeat("€", 16) + strings.Repeat("x", 16)
	if len(limit) != 64 {
		t.Fatalf("fixture is %d bytes", len(limit))
	}
	enc, err = h.Hash(ctx, limit)
	if err != nil {
		t.Fatalf("Hash at the limit: %v", err)
	}
	if ok, _, err := h.Verify(ctx, enc, limit); !ok || err != nil {
		t.Errorf("Verify at the limit = %v, %v", ok, err)
	}
}

func TestWaitingForAHashSlotGivesUpWithTheContext(t *testing.T) {
	p := fastPasswords
	p.MaxConcurrent = 1
	h := NewHasher(p)
	enc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	h.sem <- struct{}{} // another login holds the only slot

	calls := map[string]func(ctx context.Context) error{
		"Hash":        func(ctx context.Context) error { _, err := h.Hash(ctx, "pw"); return err },
		"Verify":      func(ctx context.Context) error { _, _, err := h.Verify(ctx, enc, "pw"); return err },
		"VerifyDummy": func(ctx context.Context) error { return h.VerifyDummy(ctx, "pw") },
	}
	for name, call := range calls {
		t.Run(name+" cancelled while waiting", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- call(ctx) }()
			cancel()
			select {
			case err := <-errc:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("still waiting after its context was cancelled")
			}
		})
		t.Run(name+" deadline while waiting", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
			defer cancel()
			if err := call(ctx); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrOverloaded) {
				t.Errorf("err = %v, want ErrOverloaded and context.DeadlineExceeded", err)
			}
		})
	}

	<-h.sem // the slot is free again
	if ok, _, err := h.Verify(context.Background(), enc, "pw"); !ok || err != nil {
		t.Errorf("Verify after the slot freed = %v, %v", ok, err)
	}
	if len(h.sem) != 0 {
		t.Errorf("%d slots still taken: a cancelled waiter leaked one", len(h.sem))
	}
}

func TestVerifyDummySucceedsAndReleasesItsSlot(t *testing.T) {
	h := NewHasher(fastPasswords)
	if err := h.VerifyDummy(context.Background(), "anything"); err != nil {
		t.Errorf("VerifyDummy: %v", err)
	}
	if len(h.sem) != 0 {
		t.Error("VerifyDummy leaked a slot")
	}
}

func TestNewHasherFallsBackToOWASPDefaults(t *testing.T) {
	h := NewHasher(config.Passwords{})
	if h.memory != 19456 || h.iterations != 2 || h.parallelism != 1 {
		t.Errorf("params m=%d t=%d p=%d, want 19456, 2, 1", h.memory, h.iterations, h.parallelism)
	}
	if h.maxBytes != 4*128 || cap(h.sem) < 1 {
		t.Errorf("maxBytes %d, slots %d; want 512 and at least 1", h.maxBytes, cap(h.sem))
	}
}
