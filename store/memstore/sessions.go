package memstore

import (
	"context"
	"fmt"
	"time"

	"authgate/store"
)

// session is a stored session and the refresh hashes it has spent.
type session struct {
	store.Session
	spent map[string]spentHash
}

// spentHash is what a rotation remembers of the hash it spent.
type spentHash struct {
	next string    // the hash that replaced it
	at   time.Time // when
}

// expired reports whether the live refresh token has run out at now.
func (se *session) expired(now time.Time) bool {
	return !now.Before(se.RefreshExpiresAt)
}

// CreateSession stores se and indexes it under its user.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	if err := s.lock(ctx, "create session"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	now := s.now()
	s.maybeSweepLocked(now)
	s.deleteSessionLocked(se.ID)
	s.sessions[se.ID] = &session{Session: se, spent: map[string]spentHash{}}
	ids := s.userSessions[se.UserID]
	if ids == nil {
		ids = map[string]struct{}{}
		s.userSessions[se.UserID] = ids
	}
	ids[se.ID] = struct{}{}
	return nil
}

// liveLocked returns the session sid unless it is missing or expired (an
// expired one is deleted on the way).
func (s *Store) liveLocked(sid string, now time.Time) (*session, bool) {
	se, ok := s.sessions[sid]
	if !ok {
		return nil, false
	}
	if se.expired(now) {
		s.deleteSessionLocked(sid)
		return nil, false
	}
	return se, true
}

// RotateRefresh replaces the live refresh hash of sid; see store.Sessions.
func (s *Store) RotateRefresh(ctx context.Context, sid string, r store.Rotation) (store.Session, error) {
	if err := s.lock(ctx, "rotate refresh"); err != nil {
		return store.Session{}, err
	}
	defer s.mu.Unlock()
	now := s.now()
	se, ok := s.liveLocked(sid, now)
	if !ok {
		return store.Session{}, fmt.Errorf("rotate refresh of session %q: %w", sid, store.ErrNotFound)
	}
	if r.PresentedHash == se.RefreshHash {
		se.spent[r.PresentedHash] = spentHash{next: r.NextHash, at: now}
		se.RefreshHash = r.NextHash
		se.RefreshExpiresAt = r.RefreshExpiresAt
		if r.RefreshExpiresAt.After(se.ExpiresAt) {
			se.RefreshExpiresAt = se.ExpiresAt
		}
		return se.Session, nil
	}
	sp, spent := se.spent[r.PresentedHash]
	switch {
	case !spent:
		return store.Session{}, fmt.Errorf("rotate refresh of session %q: %w", sid, store.ErrNotFound)
	case sp.next == r.NextHash && now.Sub(sp.at) < r.Grace:
		return se.Session, nil
	}
	s.deleteSessionLocked(sid)
	return se.Session, fmt.Errorf("rotate refresh of session %q: %w", sid, store.ErrRefreshReused)
}

// GetSession returns the session sid; ErrNotFound when missing or expired.
func (s *Store) GetSession(ctx context.Context, sid string) (store.Session, error) {
	if err := s.lock(ctx, "get session"); err != nil {
		return store.Session{}, err
	}
	defer s.mu.Unlock()
	se, ok := s.liveLocked(sid, s.now())
	if !ok {
		return store.Session{}, fmt.Errorf("get session %q: %w", sid, store.ErrNotFound)
	}
	return se.Session, nil
}

// DeleteSession removes the session; a missing one is no error.
func (s *Store) DeleteSession(ctx context.Context, sid string) error {
	if err := s.lock(ctx, "delete session"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.deleteSessionLocked(sid)
	return nil
}

// deleteSessionLocked removes the session and its index entry.
func (s *Store) deleteSessionLocked(sid string) {
	se, ok := s.sessions[sid]
	if !ok {
		return
	}
	delete(s.sessions, sid)
	ids := s.userSessions[se.UserID]
	delete(ids, sid)
	if len(ids) == 0 {
		delete(s.userSessions, se.UserID)
	}
}

// UserSessions lists the IDs of the user's live sessions.
func (s *Store) UserSessions(ctx context.Context, userID string) ([]string, error) {
	if err := s.lock(ctx, "list user sessions"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := s.now()
	var out []string
	for sid := range s.userSessions[userID] {
		if _, ok := s.liveLocked(sid, now); ok {
			out = append(out, sid)
		}
	}
	return out, nil
}
