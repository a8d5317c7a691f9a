package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"authgate/store"
)

// newUser returns a user with every field set.
func newUser(t *testing.T, username, email string) store.User {
	at := time.Now().Add(-time.Hour)
	return store.User{
		ID:                 newID(t),
		Username:           username,
		Email:              email,
		PasswordHash:       "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		Roles:              []string{"user", "ops"},
		Active:             true,
		EmailVerified:      true,
		MustChangePassword: false,
		CreatedAt:          at,
		UpdatedAt:          at.Add(time.Minute),
	}
}

// create stores u or fails the test.
func create(t *testing.T, s store.Store, u store.User) {
	t.Helper()
	if err := s.CreateUser(testContext(t), u); err != nil {
		t.Fatalf("CreateUser(%q, %q): %v", u.Username, u.Email, err)
	}
}

// diffUser describes how got differs from want ("" when they are equal),
// comparing times with Equal.
func diffUser(got, want store.User) string {
	switch {
	case got.ID != want.ID:
		return fmt.Sprintf("ID %q, want %q", got.ID, want.ID)
	case got.Username != want.Username:
		return fmt.Sprintf("Username %q, want %q", got.Username, want.Username)
	case got.Email != want.Email:
		return fmt.Sprintf("Email %q, want %q", got.Email, want.Email)
	case got.PasswordHash != want.PasswordHash:
		return fmt.Sprintf("PasswordHash %q, want %q", got.PasswordHash, want.PasswordHash)
	case !slices.Equal(got.Roles, want.Roles):
		return fmt.Sprintf("Roles %q, want %q", got.Roles, want.Roles)
	case got.Active != want.Active, got.EmailVerified != want.EmailVerified,
		got.MustChangePassword != want.MustChangePassword:
		return fmt.Sprintf("flags %v/%v/%v, want %v/%v/%v", got.Active, got.EmailVerified,
			got.MustChangePassword, want.Active, want.EmailVerified, want.MustChangePassword)
	case !got.CreatedAt.Equal(want.CreatedAt):
		return fmt.Sprintf("CreatedAt %v, want %v", got.CreatedAt, want.CreatedAt)
	case !got.UpdatedAt.Equal(want.UpdatedAt):
		return fmt.Sprintf("UpdatedAt %v, want %v", got.UpdatedAt, want.UpdatedAt)
	}
	return ""
}

// lookup finds a user by "id", "username" or "email".
func lookup(t *testing.T, s store.Store, by, key string) (store.User, error) {
	ctx := testContext(t)
	switch by {
	case "id":
		return s.GetUser(ctx, key)
	case "username":
		return s.GetUserByUsername(ctx, key)
	case "email":
		return s.GetUserByEmail(ctx, key)
	}
	t.Fatalf("lookup by %q", by)
	return store.User{}, nil
}

// wantUser fails unless looking the user up by `by` finds want.
func wantUser(t *testing.T, s store.Store, by, key string, want store.User) {
	t.Helper()
	got, err := lookup(t, s, by, key)
	if err != nil {
		t.Fatalf("lookup by %s %q: %v", by, key, err)
	}
	if d := diffUser(got, want); d != "" {
		t.Fatalf("lookup by %s %q: %s", by, key, d)
	}
}

// wantNoUser fails unless looking up by `by` reports ErrNotFound.
func wantNoUser(t *testing.T, s store.Store, by, key string) {
	t.Helper()
	got, err := lookup(t, s, by, key)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lookup by %s %q = %q, %v; want ErrNotFound", by, key, got.ID, err)
	}
}

var userBehaviours = []behaviour{
	{"CreatedUserIsFoundByIDAndByFoldedUsernameAndEmail", func(t *testing.T, h *harness) {
		s := h.open(t)
		u := newUser(t, "Alice", "Alice@Example.com")
		create(t, s, u)
		for _, tc := range []struct{ by, key string }{
			{"id", u.ID},
			{"username", "Alice"},
			{"username", "alice"},
			{"username", "  ALICE "},
			{"username", "Ａｌｉｃｅ"},
			{"email", "alice@example.com"},
			{"email", " ALICE@EXAMPLE.COM"},
		} {
			wantUser(t, s, tc.by, tc.key, u)
		}
	}},
	{"CreateRefusesAFoldedDuplicateAndStoresNothingOfIt", func(t *testing.T, h *harness) {
		for _, tc := range []struct {
			name            string
			username, email string
			want            error
		}{
			{"same username", "bob", "other@example.com", store.ErrUsernameTaken},
			{"username differing in case", "BOB", "other@example.com", store.ErrUsernameTaken},
			{"username in fullwidth letters", "ｂｏｂ", "other@example.com", store.ErrUsernameTaken},
			{"username with spaces around", " bob ", "", store.ErrUsernameTaken},
			{"email differing in case", "robert", "BOB@example.COM", store.ErrEmailTaken},
			{"email with spaces around", "robert", " bob@example.com ", store.ErrEmailTaken},
			{"both taken reports one of them", "Bob", "bob@example.com", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := h.open(t)
				create(t, s, newUser(t, "bob", "bob@example.com"))
				dup := newUser(t, tc.username, tc.email)
				err := s.CreateUser(testContext(t), dup)
				switch {
				case tc.want == nil:
					if !errors.Is(err, store.ErrUsernameTaken) && !errors.Is(err, store.ErrEmailTaken) {
						t.Fatalf("CreateUser = %v, want ErrUsernameTaken or ErrEmailTaken", err)
					}
				case !errors.Is(err, tc.want):
					t.Fatalf("CreateUser = %v, want %v", err, tc.want)
				}
				wantNoUser(t, s, "id", dup.ID)
				if tc.want == store.ErrUsernameTaken && tc.email != "" {
					wantNoUser(t, s, "email", tc.email)
				}
				if tc.want == store.ErrEmailTaken {
					wantNoUser(t, s, "username", tc.username)
				}
			})
		}
	}},
	{"UsersWithoutEmailDoNotCollide", func(t *testing.T, h *harness) {
		s := h.open(t)
		a, b := newUser(t, "a", ""), newUser(t, "b", "")
		create(t, s, a)
		create(t, s, b)
		wantUser(t, s, "id", b.ID, b)
		wantNoUser(t, s, "email", "")
	}},
	{"ConcurrentCreatesOfOneUsernameLetExactlyOneWin", func(t *testing.T, h *harness) {
		s := h.open(t)
		const n = 10
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = s.CreateUser(testContext(t), newUser(t, "Carol", fmt.Sprintf("carol%d@example.com", i)))
			})
		}
		wg.Wait()
		oneWinner(t, "CreateUser", errs, store.ErrUsernameTaken)
	}},
	{"UnknownUserIsNotFound", func(t *testing.T, h *harness) {
		s := h.open(t)
		create(t, s, newUser(t, "dave", "dave@example.com"))
		ctx := testContext(t)
		wantNoUser(t, s, "id", "missing")
		wantNoUser(t, s, "username", "nobody")
		wantNoUser(t, s, "email", "nobody@example.com")
		if err := s.UpdateUser(ctx, newUser(t, "ghost", "")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateUser(unknown) = %v, want ErrNotFound", err)
		}
		if err := s.DeleteUser(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteUser(unknown) = %v, want ErrNotFound", err)
		}
	}},
	{"UpdateReplacesTheWholeRecord", func(t *testing.T, h *harness) {
		s := h.open(t)
		u := newUser(t, "erin", "erin@example.com")
		create(t, s, u)
		u.PasswordHash = "$2a$10$abcdefghijklmnopqrstuv"
		u.Roles = []string{"admin"}
		u.Active = false
		u.EmailVerified = false
		u.MustChangePassword = true
		u.UpdatedAt = u.UpdatedAt.Add(time.Hour)
		if err := s.UpdateUser(testContext(t), u); err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		wantUser(t, s, "id", u.ID, u)
		wantUser(t, s, "username", "erin", u)
		wantUser(t, s, "email", "erin@example.com", u)
	}},
	{"UpdateMovesChangedIndexesAndFreesTheOldOnes", func(t *testing.T, h *harness) {
		for _, tc := range []struct {
			name                  string
			username, email       string
			freedName, freedEmail string
		}{
			{"rename", "frank2", "frank@example.com", "frank", ""},
			{"new email", "frank", "frank@example.org", "", "frank@example.com"},
			{"both", "franky", "franky@example.org", "frank", "frank@example.com"},
			{"email cleared", "frank", "", "", "frank@example.com"},
			{"case only", "FRANK", "Frank@Example.com", "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := h.open(t)
				u := newUser(t, "frank", "frank@example.com")
				create(t, s, u)
				u.Username, u.Email = tc.username, tc.email
				if err := s.UpdateUser(testContext(t), u); err != nil {
					t.Fatalf("UpdateUser: %v", err)
				}
				wantUser(t, s, "username", tc.username, u)
				if tc.email != "" {
					wantUser(t, s, "email", tc.email, u)
				}
				if tc.freedName != "" {
					wantNoUser(t, s, "username", tc.freedName)
				}
				if tc.freedEmail != "" {
					wantNoUser(t, s, "email", tc.freedEmail)
				}
				// What was freed can be taken by someone else.
				other := newUser(t, "other", "")
				if tc.freedName != "" {
					other.Username = tc.freedName
				}
				other.Email = tc.freedEmail
				create(t, s, other)
				wantUser(t, s, "username", other.Username, other)
				wantUser(t, s, "id", u.ID, u)
			})
		}
	}},
	{"UpdateToATakenNameOrEmailFailsAndChangesNothing", func(t *testing.T, h *harness) {
		for _, tc := range []struct {
			name            string
			username, email string
			want            error
		}{
			{"name of another user", "Heidi", "grace@example.com", store.ErrUsernameTaken},
			{"email of another user", "grace", "HEIDI@example.com", store.ErrEmailTaken},
			{"new free name but email taken", "gracie", "heidi@example.com", store.ErrEmailTaken},
			{"new free email but name taken", "heidi", "gracie@example.com", store.ErrUsernameTaken},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := h.open(t)
				g := newUser(t, "grace", "grace@example.com")
				hd := newUser(t, "heidi", "heidi@example.com")
				create(t, s, g)
				create(t, s, hd)
				changed := g
				changed.Username, changed.Email = tc.username, tc.email
				changed.Roles = []string{"changed"}
				if err := s.UpdateUser(testContext(t), changed); !errors.Is(err, tc.want) {
					t.Fatalf("UpdateUser = %v, want %v", err, tc.want)
				}
				wantUser(t, s, "id", g.ID, g)
				wantUser(t, s, "username", "grace", g)
				wantUser(t, s, "email", "grace@example.com", g)
				wantUser(t, s, "username", "heidi", hd)
				wantUser(t, s, "email", "heidi@example.com", hd)
				for _, free := range []struct{ by, key string }{{"username", "gracie"}, {"email", "gracie@example.com"}} {
					wantNoUser(t, s, free.by, free.key)
				}
			})
		}
	}},
	{"DeleteRemovesTheUserAndFreesNameAndEmail", func(t *testing.T, h *harness) {
		s := h.open(t)
		u := newUser(t, "ivan", "ivan@example.com")
		keep := newUser(t, "judy", "judy@example.com")
		create(t, s, u)
		create(t, s, keep)
		if err := s.DeleteUser(testContext(t), u.ID); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		wantNoUser(t, s, "id", u.ID)
		wantNoUser(t, s, "username", "ivan")
		wantNoUser(t, s, "email", "ivan@example.com")
		wantUser(t, s, "id", keep.ID, keep)
		if err := s.DeleteUser(testContext(t), u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second DeleteUser = %v, want ErrNotFound", err)
		}
		create(t, s, newUser(t, "IVAN", "Ivan@example.com"))
	}},
	{"ListUsersPagesInIDOrderWithACursor", func(t *testing.T, h *harness) {
		s := h.open(t)
		var ids []string
		for i := range 7 {
			ids = append(ids, fmt.Sprintf("u%02d-%s", i, newID(t)))
		}
		for _, i := range rand.Perm(len(ids)) {
			u := newUser(t, "user"+ids[i], "")
			u.ID = ids[i]
			create(t, s, u)
		}
		for _, tc := range []struct {
			name      string
			after     string
			limit     int
			want      []string
			wantAfter string
		}{
			{"first page", "", 3, ids[0:3], ids[2]},
			{"middle page", ids[2], 3, ids[3:6], ids[5]},
			{"last short page", ids[5], 3, ids[6:], ""},
			{"page ending exactly at the last user", ids[3], 3, ids[4:7], ""},
			{"everything at once", "", 100, ids, ""},
			{"cursor between ids", ids[1] + "~", 2, ids[2:4], ids[3]},
			{"cursor past the end", ids[6], 3, nil, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, next, err := s.ListUsers(testContext(t), tc.after, tc.limit)
				if err != nil {
					t.Fatalf("ListUsers: %v", err)
				}
				var gotIDs []string
				for _, u := range got {
					gotIDs = append(gotIDs, u.ID)
				}
				if !slices.Equal(gotIDs, tc.want) || next != tc.wantAfter {
					t.Fatalf("ListUsers(%q, %d) = %q, %q; want %q, %q", tc.after, tc.limit, gotIDs, next, tc.want, tc.wantAfter)
				}
			})
		}
	}},
	{"ListUsersReturnsWholeRecordsAndNothingWhenEmpty", func(t *testing.T, h *harness) {
		s := h.open(t)
		got, next, err := s.ListUsers(testContext(t), "", 10)
		if err != nil || len(got) != 0 || next != "" {
			t.Fatalf("ListUsers on an empty store = %v, %q, %v; want nothing", got, next, err)
		}
		u := newUser(t, "kim", "kim@example.com")
		create(t, s, u)
		got, _, err = s.ListUsers(testContext(t), "", 10)
		if err != nil || len(got) != 1 {
			t.Fatalf("ListUsers = %v, %v; want one user", got, err)
		}
		if d := diffUser(got[0], u); d != "" {
			t.Fatalf("listed user: %s", d)
		}
	}},
	{"ListUsersRefusesANonPositiveLimit", func(t *testing.T, h *harness) {
		s := h.open(t)
		for _, limit := range []int{0, -1} {
			if _, _, err := s.ListUsers(testContext(t), "", limit); err == nil {
				t.Errorf("ListUsers(limit %d) succeeded, want an error", limit)
			}
		}
	}},
	{"StoredUsersDoNotShareMemoryWithTheCaller", func(t *testing.T, h *harness) {
		s := h.open(t)
		u := newUser(t, "leo", "")
		want := u
		want.Roles = slices.Clone(u.Roles)
		create(t, s, u)
		u.Roles[0] = "changed after create"
		got, err := s.GetUser(testContext(t), u.ID)
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		got.Roles[0] = "changed after get"
		wantUser(t, s, "id", u.ID, want)
	}},
}
