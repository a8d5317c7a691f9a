// Package smtptest is a real SMTP server (go-smtp) on loopback for tests:
// plain, STARTTLS or implicit TLS, with or without AUTH (PLAIN, LOGIN),
// recording every message it accepts.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Setup describes a test SMTP server.
type Setup struct {
	// Security is "none" (plain), "starttls" (offers STARTTLS) or "tls"
	// (implicit TLS listener).
	Security string
	// Users, when set, are the accepted credentials and AUTH is required.
	Users map[string]string
	// Mechs are the SASL mechanisms offered; default PLAIN.
	Mechs []string
	// AllowInsecureAuth offers AUTH without TLS.
	AllowInsecureAuth bool
}

// Mail is one message the test server accepted.
type Mail struct {
	From     string
	To       []string
	Data     []byte
	AuthUser string // "" without AUTH
	TLS      bool   // the message travelled over TLS
}

// Server is a real go-smtp server on 127.0.0.1 that records messages.
type Server struct {
	Host string
	Port int
	// Roots trusts the server's self-signed certificate.
	Roots *x509.CertPool

	setup Setup
	mu    sync.Mutex
	mails []Mail
}

// Start runs a test SMTP server until the test ends.
func Start(t testing.TB, setup Setup) *Server {
	t.Helper()
	if len(setup.Mechs) == 0 {
		setup.Mechs = []string{sasl.Plain}
	}
	cert, roots := selfSignedCert(t)
	s := &Server{Host: "127.0.0.1", Roots: roots, setup: setup}

	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = setup.AllowInsecureAuth
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	switch setup.Security {
	case "none":
	case "starttls":
		srv.TLSConfig = tlsConfig
	case "tls":
		ln = tls.NewListener(ln, tlsConfig)
	default:
		t.Fatalf("unknown Setup.Security %q", setup.Security)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		// Close misses a listener Serve has not registered yet.
		_ = srv.Close()
		_ = ln.Close()
		<-done
	})
	return s
}

// Received returns a copy of the messages accepted so far.
func (s *Server) Received() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// session is one SMTP session of a Server.
type session struct {
	srv      *Server
	conn     *smtp.Conn
	AuthUser string
	cur      Mail
}

func (s *session) AuthMechanisms() []string { return s.srv.setup.Mechs }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		want, ok := s.srv.setup.Users[username]
		if !ok || want != password {
			return errors.New("invalid username or password")
		}
		s.AuthUser = username
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, username, password string) error {
			return check(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, errors.New("unsupported mechanism")
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.setup.Users != nil && s.AuthUser == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = Mail{From: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = b
	s.cur.AuthUser = s.AuthUser
	_, s.cur.TLS = s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset() { s.cur = Mail{} }

func (s *session) Logout() error { return nil }

// loginServer is the server side of SASL LOGIN, which go-sasl lacks.
type loginServer struct {
	check    func(username, password string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		return []byte("Username:"), false, nil
	case 2:
		l.username = string(response)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.username, string(response))
	}
	return nil, false, errors.New("unexpected LOGIN step")
}

// selfSignedCert makes a certificate for 127.0.0.1 and localhost and a pool
// that trusts it.
func selfSignedCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "authgate test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
