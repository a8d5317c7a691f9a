package mail

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

// serverSetup describes a test SMTP server.
type serverSetup struct {
	// security is "none" (plain), "starttls" (offers STARTTLS) or "tls"
	// (implicit TLS listener).
	security string
	// users, when set, are the accepted credentials and AUTH is required.
	users map[string]string
	// mechs are the SASL mechanisms offered; default PLAIN.
	mechs []string
	// allowInsecureAuth offers AUTH without TLS.
	allowInsecureAuth bool
}

// receivedMail is one message the test server accepted.
type receivedMail struct {
	from     string
	to       []string
	data     []byte
	authUser string
	tls      bool
}

// testServer is a real go-smtp server on 127.0.0.1 that records messages.
type testServer struct {
	host string
	port int
	// roots trusts the server's self-signed certificate.
	roots *x509.CertPool

	setup serverSetup
	mu    sync.Mutex
	mails []receivedMail
}

// startServer runs a test SMTP server until the test ends.
func startServer(t testing.TB, setup serverSetup) *testServer {
	t.Helper()
	if len(setup.mechs) == 0 {
		setup.mechs = []string{sasl.Plain}
	}
	cert, roots := selfSignedCert(t)
	s := &testServer{host: "127.0.0.1", roots: roots, setup: setup}

	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = setup.allowInsecureAuth
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	switch setup.security {
	case "none":
	case "starttls":
		srv.TLSConfig = tlsConfig
	case "tls":
		ln = tls.NewListener(ln, tlsConfig)
	default:
		t.Fatalf("unknown server security %q", setup.security)
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

// received returns a copy of the messages accepted so far.
func (s *testServer) received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.mails...)
}

// testSession is one SMTP session of a testServer.
type testSession struct {
	srv      *testServer
	conn     *smtp.Conn
	authUser string
	cur      receivedMail
}

func (s *testSession) AuthMechanisms() []string { return s.srv.setup.mechs }

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		want, ok := s.srv.setup.users[username]
		if !ok || want != password {
			return errors.New("invalid username or password")
		}
		s.authUser = username
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

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.setup.users != nil && s.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = receivedMail{from: from}
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	s.cur.authUser = s.authUser
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *testSession) Reset() { s.cur = receivedMail{} }

func (s *testSession) Logout() error { return nil }

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

// silentServer accepts connections and never speaks. Each accepted
// connection is announced on the returned channel.
func silentServer(t testing.TB) (port int, accepted <-chan struct{}) {
	return stallingServer(t, nil)
}

// stallingServer accepts connections and runs talk on each, if set, then
// holds the connection open without a word. A connection is announced on the
// returned channel once talk returns.
func stallingServer(t testing.TB, talk func(net.Conn)) (port int, ready <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ch := make(chan struct{}, 16)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				if talk != nil {
					talk(c)
				}
				select {
				case ch <- struct{}{}:
				default:
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr).Port, ch
}

// closedPort returns a loopback port nobody listens on.
func closedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return port
}
