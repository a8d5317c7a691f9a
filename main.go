// Command authgate is a reverse-proxy authentication gateway: it logs users
// in, issues JWT access tokens and rotating refresh tokens, decides every
// other request by YAML rules and proxies it with identity headers, and
// answers forward-auth questions from nginx, Traefik and Caddy.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"authgate/audit"
	"authgate/auth"
	"authgate/config"
	"authgate/gateway"
	"authgate/gateway/echo"
	"authgate/gateway/rules"
	"authgate/mail"
	"authgate/tracing"
	"authgate/usercmd"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: authgate [command] [flags]

commands:
  serve          run the gateway (default)         -config gateway.yaml
  check          validate the config and exit      -config gateway.yaml
  hash-password  read a password on stdin, print its argon2id hash
  users          manage users (add, list, show, set-password, ...): authgate users help
  echo           run a JSON echo upstream          -listen :9000
  version        print the version
The config path also comes from AUTHGATE_CONFIG.
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout, stderr)
	case "check":
		return check(args, stdout, stderr)
	case "hash-password":
		return hashPassword(ctx, stdin, stdout, stderr)
	case "echo":
		return runEcho(ctx, args, stderr)
	case "users":
		return usercmd.Run(ctx, args, stdin, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "authgate", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "authgate: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func versionString() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// configFlag parses -config for serve and check.
func configFlag(name string, args []string, stderr io.Writer) (string, bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "gateway.yaml", "path of the config file (or AUTHGATE_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "config" })
	return config.PathFromEnv(*path, set), true
}

// check prints every problem of the config with its YAML path.
func check(args []string, stdout, stderr io.Writer) int {
	path, ok := configFlag("check", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := config.Load(path)
	var probs config.Problems
	if err != nil && !errors.As(err, &probs) {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return 1
	}
	if cfg != nil {
		probs = append(probs, cfg.Warnings()...)
		names := make(map[string]bool, len(cfg.Upstreams.Named))
		for n := range cfg.Upstreams.Named {
			names[n] = true
		}
		_, rp, rerr := rules.Compile(cfg.Rules, cfg.DefaultPolicy, names)
		if rerr != nil && len(rp) == 0 {
			fmt.Fprintf(stderr, "%s: rules: %v\n", path, rerr)
			return 1
		}
		for _, p := range rp {
			probs = append(probs, config.Problem{Path: p.Path, Msg: p.Msg, Warning: p.Warning})
		}
	}
	for _, p := range probs {
		fmt.Fprintf(stderr, "%s: %s\n", path, p.String())
	}
	if probs.HasErrors() {
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}

// hashPassword reads one password (the first line of stdin) and prints its
// argon2id hash with the default parameters.
func hashPassword(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, "authgate: read password:", err)
		return 1
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		fmt.Fprintln(stderr, "authgate: empty password on stdin")
		return 1
	}
	// The routes refuse such passwords (they could not be typed back the
	// same way): a seeded hash of one could never be used.
	if !utf8.ValidString(pw) || strings.ContainsRune(pw, utf8.RuneError) {
		fmt.Fprintln(stderr, "authgate: the password on stdin is not valid UTF-8 text")
		return 1
	}
	cfg := &config.Config{}
	config.ApplyDefaults(cfg)
	h, err := auth.NewHasher(cfg.Passwords).Hash(ctx, pw)
	if err != nil {
		fmt.Fprintln(stderr, "authgate:", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

func runEcho(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":9000", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	srv := &http.Server{Addr: *listen, Handler: echo.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(stderr, "authgate echo listening on %s\n", *listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "authgate echo:", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	path, ok := configFlag("serve", args, stderr)
	if !ok {
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s: invalid config:\n%v\n", path, err)
		return 1
	}
	log, flush := newLogger(cfg.Log, stderr)
	defer flush()
	if cfg.Tracing.Enabled {
		// Every line logged with a traced request's context gets its
		// trace_id and span_id.
		log = slog.New(tracing.LogHandler(log.Handler()))
	}
	aud, err := audit.Open(cfg.Audit.Output, stdout, stderr, log)
	if err != nil {
		log.Error("authgate stopped", "err", err.Error())
		return 1
	}
	defer aud.Close()
	if err := serveConfig(ctx, path, cfg, log, aud); err != nil {
		log.Error("authgate stopped", "err", err.Error())
		return 1
	}
	log.Info("authgate stopped")
	return 0
}

func serveConfig(ctx context.Context, path string, cfg *config.Config, log *slog.Logger, aud *audit.Logger) error {
	st, limits, err := gateway.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	tr, err := tracing.New(cfg.Tracing, tracing.Options{Version: versionString()})
	if err != nil {
		return err
	}
	if tr != nil {
		tracing.LogErrors(log)
		defer func() {
			// Send the last spans; a collector that is gone costs at most this.
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tr.Shutdown(sctx); err != nil {
				log.Warn("tracing: last spans not sent", "err", err.Error())
			}
		}()
		log.Info("tracing on", "endpoint", cfg.Tracing.Endpoint, "sample_ratio", cfg.Tracing.SampleRatio)
	}
	opts := gateway.Options{Logger: log, LimiterStore: limits, Audit: aud, Tracer: tr}
	if cfg.Mail.Driver == "smtp" {
		m, err := mail.NewSMTP(cfg.Mail)
		if err != nil {
			return err
		}
		opts.Mailer = m
	}
	g, err := gateway.New(cfg, st, opts)
	if err != nil {
		return err
	}
	if err := g.Start(ctx); err != nil {
		return err
	}
	go reloadLoop(ctx, path, cfg.Reload.Watch, g, opts, log)
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	var adminLn net.Listener
	if addr := cfg.AdminAddr(); addr != "" {
		if adminLn, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("admin_listen: %w", err)
		}
	}
	admin := cfg.AdminListen
	if adminLn != nil {
		admin = adminLn.Addr().String()
	}
	if cfg.Store.Type == "embedded" {
		// `authgate users` cannot open the locked store file while this
		// process runs; it sends its commands here instead.
		if sock, err := usercmd.Listen(usercmd.SocketPath(cfg)); err != nil {
			log.Warn("authgate users will not reach this gateway", "err", err.Error())
		} else {
			go func() {
				if err := usercmd.Serve(ctx, sock, g.Accounts, log); err != nil {
					log.Error("control socket", "err", err.Error())
				}
			}()
		}
	}
	log.Info("authgate listening", "listen", ln.Addr().String(), "admin", admin,
		"store", cfg.Store.Type, "upstream", cfg.Upstreams.Default, "version", versionString())
	return g.Serve(ctx, ln, adminLn)
}

func listen(cfg *config.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if cfg.TLS.CertFile == "" {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}
