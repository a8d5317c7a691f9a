package account

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ulule/limiter/v3"

	"authgate/audit"
	"authgate/auth"
	"authgate/config"
	"authgate/mail"
	"authgate/mfa"
	"authgate/store"
)

// Store is what the account flows need from the store.
type Store interface {
	CreateUser(ctx context.Context, u store.User) error
	GetUser(ctx context.Context, id string) (store.User, error)
	GetUserByUsername(ctx context.Context, username string) (store.User, error)
	GetUserByEmail(ctx context.Context, email string) (store.User, error)
	UpdateUser(ctx context.Context, u store.User) error
	DeleteUser(ctx context.Context, id string) error
	ListUsers(ctx context.Context, after string, limit int) ([]store.User, string, error)
	PutOneTime(ctx context.Context, purpose, hash, userID string, expiresAt time.Time) error
	ConsumeOneTime(ctx context.Context, purpose, hash string) (string, error)
}

// Mailer sends the account flows' mails (mail.SMTPMailer, mail.LogMailer).
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Observer is told about outcomes worth counting (metrics). Its methods
// must be cheap and safe for concurrent use.
type Observer interface {
	// Login counts a sign-in attempt by outcome: success, password_change,
	// invalid_credentials, rate_limited, locked, unverified, error.
	Login(outcome string)
	// RateLimited counts a refusal by a named limit (login_per_ip, ...,
	// lockout).
	RateLimited(limit string)
}

// Client is what a flow knows about who asks: the client address (for the
// per-IP limits) and, optionally, a hook that is told every rate-limit
// count taken for the request (the JSON routes turn it into RateLimit-*
// headers).
type Client struct {
	IP      string
	Counted func(limiter.Context)
}

func (c Client) counted(lc limiter.Context) {
	if c.Counted != nil {
		c.Counted(lc)
	}
}

// Options are the parts of a Service that are not in the config.
type Options struct {
	Logger   *slog.Logger
	Now      func() time.Time
	Mailer   Mailer
	Observer Observer
	// LimiterStore keeps rate-limit counters; nil: in memory.
	LimiterStore limiter.Store
	// Audit receives the security events; nil: none are written.
	Audit *audit.Logger
}

// Service runs the account flows on a store.
type Service struct {
	cfg      *config.Config
	st       Store
	hasher   *auth.Hasher
	sessions *auth.Sessions
	log      *slog.Logger
	now      func() time.Time
	mailer   Mailer
	mails    *mail.Templates
	obs      Observer
	audit    *audit.Logger

	loginIP, loginUser, refreshIP, mailIP, mailEmail, sfUser *RateLimit
	lock                                                     *Lockout

	// mfa is the second-factor service; nil when mfa.enabled is false.
	mfa *mfa.Service
}

// New builds the account service. st and sessions must share one store.
func New(cfg *config.Config, st Store, hasher *auth.Hasher, sessions *auth.Sessions, o Options) (*Service, error) {
	s := &Service{cfg: cfg, st: st, hasher: hasher, sessions: sessions, log: o.Logger, now: o.Now, mailer: o.Mailer, obs: o.Observer, audit: o.Audit}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.mailer == nil {
		s.mailer = mail.NewLog(s.log)
	}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	var err error
	if s.mails, err = mail.LoadTemplates(cfg.Mail.TemplatesDir); err != nil {
		return nil, err
	}
	if err := s.buildLimits(o.LimiterStore); err != nil {
		return nil, err
	}
	if cfg.MFA.Enabled {
		ms, ok := st.(mfa.Store)
		if !ok {
			return nil, fmt.Errorf("mfa: the store (%T) keeps no second factors", st)
		}
		if s.mfa, err = mfa.New(cfg.MFA, ms, s.now); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// UseMailer replaces the mailer (tests record mails with it). Call it
// before serving.
func (s *Service) UseMailer(m Mailer) { s.mailer = m }

// UseStore replaces the store (tests simulate outages with it).
func (s *Service) UseStore(st Store) { s.st = st }

type nopObserver struct{}

func (nopObserver) Login(string)       {}
func (nopObserver) RateLimited(string) {}

// modifyUser loads the user, applies change and stores the result with a
// new UpdatedAt. The store has no compare-and-swap: loading right before
// writing keeps the window for a lost concurrent update short. Errors of
// change are returned as they are; store errors are wrapped.
func (s *Service) modifyUser(ctx context.Context, id string, change func(u *store.User) error) (store.User, error) {
	u, err := s.st.GetUser(ctx, id)
	if err != nil {
		return store.User{}, fmt.Errorf("load user %s: %w", id, err)
	}
	if err := change(&u); err != nil {
		return store.User{}, err
	}
	u.UpdatedAt = s.now().UTC()
	if err := s.st.UpdateUser(ctx, u); err != nil {
		return store.User{}, fmt.Errorf("update user %s: %w", id, err)
	}
	return u, nil
}
