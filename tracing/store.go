package tracing

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"authgate/store"
)

// Store wraps st so that every call made with the context of a traced
// request is a span "store.<Method>" (attribute db.system.name: backend,
// the store type). Calls outside a trace (the revocation feed, seeding)
// make no span. Install it only when tracing is on; without it the store
// is called directly.
//
// The decorator hides optional interfaces of st from type assertions:
// wrap the store after anything that looks for them (package lease).
func Store(st store.Store, t *Tracer, backend string) store.Store {
	return &tracedStore{Store: st, st: st, t: t, backend: attribute.String("db.system.name", backend)}
}

// tracedStore embeds the store, so that a method added to store.Store
// passes through untraced until it is listed here.
type tracedStore struct {
	store.Store
	st      store.Store
	t       *Tracer
	backend attribute.KeyValue
}

// start starts the span of one call, when ctx is traced.
func (s *tracedStore) start(ctx context.Context, op string) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	return s.t.tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(s.backend, attribute.String("db.operation.name", op)))
}

// end ends span; an error other than an expected outcome (not found, a
// name taken, a reused refresh token) marks it failed.
func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		switch {
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrUsernameTaken), errors.Is(err, store.ErrEmailTaken),
			errors.Is(err, store.ErrRefreshReused), errors.Is(err, store.ErrIdentityTaken):
			span.SetAttributes(attribute.String("authgate.store.outcome", outcome(err)))
		default:
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// outcome names an expected store outcome.
func outcome(err error) string {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "not_found"
	case errors.Is(err, store.ErrUsernameTaken):
		return "username_taken"
	case errors.Is(err, store.ErrEmailTaken):
		return "email_taken"
	case errors.Is(err, store.ErrRefreshReused):
		return "refresh_reused"
	}
	return "identity_taken"
}

func (s *tracedStore) CreateUser(ctx context.Context, u store.User) error {
	ctx, sp := s.start(ctx, "CreateUser")
	err := s.st.CreateUser(ctx, u)
	end(sp, err)
	return err
}

func (s *tracedStore) GetUser(ctx context.Context, id string) (store.User, error) {
	ctx, sp := s.start(ctx, "GetUser")
	u, err := s.st.GetUser(ctx, id)
	end(sp, err)
	return u, err
}

func (s *tracedStore) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	ctx, sp := s.start(ctx, "GetUserByUsername")
	u, err := s.st.GetUserByUsername(ctx, username)
	end(sp, err)
	return u, err
}

func (s *tracedStore) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	ctx, sp := s.start(ctx, "GetUserByEmail")
	u, err := s.st.GetUserByEmail(ctx, email)
	end(sp, err)
	return u, err
}

func (s *tracedStore) UpdateUser(ctx context.Context, u store.User) error {
	ctx, sp := s.start(ctx, "UpdateUser")
	err := s.st.UpdateUser(ctx, u)
	end(sp, err)
	return err
}

func (s *tracedStore) DeleteUser(ctx context.Context, id string) error {
	ctx, sp := s.start(ctx, "DeleteUser")
	err := s.st.DeleteUser(ctx, id)
	end(sp, err)
	return err
}

func (s *tracedStore) ListUsers(ctx context.Context, after string, limit int) ([]store.User, string, error) {
	ctx, sp := s.start(ctx, "ListUsers")
	us, next, err := s.st.ListUsers(ctx, after, limit)
	end(sp, err)
	return us, next, err
}

func (s *tracedStore) CreateSession(ctx context.Context, se store.Session) error {
	ctx, sp := s.start(ctx, "CreateSession")
	err := s.st.CreateSession(ctx, se)
	end(sp, err)
	return err
}

func (s *tracedStore) RotateRefresh(ctx context.Context, sid string, r store.Rotation) (store.Session, error) {
	ctx, sp := s.start(ctx, "RotateRefresh")
	se, err := s.st.RotateRefresh(ctx, sid, r)
	end(sp, err)
	return se, err
}

func (s *tracedStore) GetSession(ctx context.Context, sid string) (store.Session, error) {
	ctx, sp := s.start(ctx, "GetSession")
	se, err := s.st.GetSession(ctx, sid)
	end(sp, err)
	return se, err
}

func (s *tracedStore) DeleteSession(ctx context.Context, sid string) error {
	ctx, sp := s.start(ctx, "DeleteSession")
	err := s.st.DeleteSession(ctx, sid)
	end(sp, err)
	return err
}

func (s *tracedStore) UserSessions(ctx context.Context, userID string) ([]string, error) {
	ctx, sp := s.start(ctx, "UserSessions")
	ids, err := s.st.UserSessions(ctx, userID)
	end(sp, err)
	return ids, err
}

func (s *tracedStore) RevokeSession(ctx context.Context, sid string, until time.Time) error {
	ctx, sp := s.start(ctx, "RevokeSession")
	err := s.st.RevokeSession(ctx, sid, until)
	end(sp, err)
	return err
}

func (s *tracedStore) RevokedSessions(ctx context.Context) (map[string]time.Time, error) {
	ctx, sp := s.start(ctx, "RevokedSessions")
	m, err := s.st.RevokedSessions(ctx)
	end(sp, err)
	return m, err
}

func (s *tracedStore) PutOneTime(ctx context.Context, purpose, hash, userID string, expiresAt time.Time) error {
	ctx, sp := s.start(ctx, "PutOneTime")
	err := s.st.PutOneTime(ctx, purpose, hash, userID, expiresAt)
	end(sp, err)
	return err
}

func (s *tracedStore) ConsumeOneTime(ctx context.Context, purpose, hash string) (string, error) {
	ctx, sp := s.start(ctx, "ConsumeOneTime")
	id, err := s.st.ConsumeOneTime(ctx, purpose, hash)
	end(sp, err)
	return id, err
}

func (s *tracedStore) LinkIdentity(ctx context.Context, id store.Identity) error {
	ctx, sp := s.start(ctx, "LinkIdentity")
	err := s.st.LinkIdentity(ctx, id)
	end(sp, err)
	return err
}

func (s *tracedStore) IdentityUser(ctx context.Context, provider, subject string) (string, error) {
	ctx, sp := s.start(ctx, "IdentityUser")
	id, err := s.st.IdentityUser(ctx, provider, subject)
	end(sp, err)
	return id, err
}

func (s *tracedStore) UserIdentities(ctx context.Context, userID string) ([]store.Identity, error) {
	ctx, sp := s.start(ctx, "UserIdentities")
	ids, err := s.st.UserIdentities(ctx, userID)
	end(sp, err)
	return ids, err
}

func (s *tracedStore) UnlinkIdentity(ctx context.Context, userID, provider, subject string) error {
	ctx, sp := s.start(ctx, "UnlinkIdentity")
	err := s.st.UnlinkIdentity(ctx, userID, provider, subject)
	end(sp, err)
	return err
}

func (s *tracedStore) SharedSecret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	ctx, sp := s.start(ctx, "SharedSecret")
	b, err := s.st.SharedSecret(ctx, name, candidate)
	end(sp, err)
	return b, err
}

func (s *tracedStore) Ping(ctx context.Context) error {
	ctx, sp := s.start(ctx, "Ping")
	err := s.st.Ping(ctx)
	end(sp, err)
	return err
}
