package usercmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"authgate/account"
	"authgate/audit"
	"authgate/auth"
	"authgate/config"
	"authgate/lease"
	"authgate/store"
	"authgate/store/boltstore"
	"authgate/store/redisstore"
)

// Usage is the help of `authgate users`.
const Usage = `usage: authgate users COMMAND [flags] [USER] [...]

commands (USER is a username or a user id):
  add USER [-email E] [-roles a,b] [-must-change-password] [-inactive] [-email-verified]
                         create a user; the password is read as below
  list [-json]           every user, in creation order
  show USER              the user as JSON
  set-password USER [-must-change-password]
                         set the password (read as below); ends the user's sessions
  set-roles USER ROLE[,ROLE...]
                         replace the roles; removing one ends the user's sessions
  disable USER           no more logins; ends the user's sessions
  enable USER            allow logins again
  delete USER            delete the account; ends its sessions
  revoke-sessions USER   end every session (tokens refused on the next request)
  reset-mfa USER         delete every second factor (TOTP, passkeys, recovery codes)
                         and end the user's sessions: for a user who lost them

flags of every command:
  -config F   the gateway's config (default gateway.yaml, or AUTHGATE_CONFIG)
  -wait D     embedded store only: how long to wait for the store's lock when
              no gateway answers on its control socket (default 5s)

Passwords are read from the terminal without echo (asked twice), or else
from the first line of stdin: echo "$PW" | authgate users set-password alice
`

// Run runs `authgate users ARGS`; it returns the exit code: 0 done, 1
// refused or failed, 2 bad usage.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, Usage)
		return 0
	}
	op := args[0]
	known := false
	for _, o := range Ops {
		known = known || o == op
	}
	if !known {
		fmt.Fprintf(stderr, "authgate users: unknown command %q\n\n%s", op, Usage)
		return 2
	}
	fs := flag.NewFlagSet("users "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "gateway.yaml", "path of the config file (or AUTHGATE_CONFIG)")
	wait := fs.Duration("wait", 5*time.Second, "embedded store: how long to wait for its lock")
	asJSON := fs.Bool("json", false, "list: JSON lines instead of a table")
	req := Request{Op: op, Actor: actor()}
	roles := ""
	switch op {
	case "add":
		fs.StringVar(&req.Email, "email", "", "email address")
		fs.StringVar(&roles, "roles", "", "comma-separated roles (default users.default_roles)")
		fs.BoolVar(&req.MustChangePassword, "must-change-password", false, "the user must change the password first")
		fs.BoolVar(&req.Inactive, "inactive", false, "create the account disabled")
		fs.BoolVar(&req.EmailVerified, "email-verified", false, "mark the email address verified")
	case "set-password":
		fs.BoolVar(&req.MustChangePassword, "must-change-password", false, "the user must change the password first")
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return 2
	}
	want := 1
	switch op {
	case "list":
		want = 0
	case "set-roles":
		want = -1 // USER ROLE...
	}
	if (want >= 0 && len(pos) != want) || (want < 0 && len(pos) < 2) {
		fmt.Fprintf(stderr, "authgate users %s: wrong number of arguments\n\n%s", op, Usage)
		return 2
	}
	if len(pos) > 0 {
		req.User, req.Username = pos[0], pos[0]
	}
	if op == "set-roles" {
		roles = strings.Join(pos[1:], ",")
	}
	if roles != "" || op == "set-roles" {
		rs := splitRoles(roles)
		req.Roles = &rs
	}

	cfg, err := config.Load(config.PathFromEnv(*cfgPath, flagSet(fs, "config")))
	if err != nil {
		fmt.Fprintf(stderr, "authgate users: %s: invalid config:\n%v\n", *cfgPath, err)
		return 1
	}
	if cfg.Store.Type == "memory" {
		fmt.Fprintln(stderr, "authgate users: store.type is memory: its users live only inside one running gateway; there is nothing to manage from the shell")
		return 1
	}
	if op == "add" || op == "set-password" {
		if req.Password, err = readPassword(stdin, stderr); err != nil {
			fmt.Fprintln(stderr, "authgate users:", err)
			return 1
		}
	}
	res, err := run(ctx, cfg, req, *wait)
	if err != nil {
		fmt.Fprintln(stderr, "authgate users:", err)
		return 1
	}
	if res.Refused != nil {
		fmt.Fprintf(stderr, "authgate users %s: %s\n", op, res.Refused.Detail)
		return 1
	}
	report(stdout, op, res, *asJSON)
	return 0
}

// run executes req where it can run: on a gateway that answers on the
// control socket, else on the store opened here. list pages through every
// user.
func run(ctx context.Context, cfg *config.Config, req Request, wait time.Duration) (Result, error) {
	exec := func(r Request) (Result, error) { return viaSocket(ctx, SocketPath(cfg), r) }
	remote := false
	if cfg.Store.Type != "redis" {
		var err error
		if remote, err = socketAnswers(ctx, SocketPath(cfg)); err != nil {
			return Result{}, err
		}
	}
	if !remote {
		svc, closeStore, err := Open(ctx, cfg, wait)
		if err != nil {
			return Result{}, err
		}
		defer closeStore()
		exec = func(r Request) (Result, error) { return Execute(ctx, svc, r) }
	}
	if req.Op != "list" {
		return exec(req)
	}
	all := Result{Users: []View{}}
	req.Limit = account.MaxPageSize
	for {
		res, err := exec(req)
		if err != nil || res.Refused != nil {
			return res, err
		}
		all.Users = append(all.Users, res.Users...)
		if res.Next == "" {
			return all, nil
		}
		req.After = res.Next
	}
}

// Open opens the configured store (not memory) and an account service on
// it for the command line. Its session revocations go through the store (and
// on Redis its feed), so running gateways refuse the sessions at once. It
// never issues tokens, so it loads no signing keys.
func Open(ctx context.Context, cfg *config.Config, wait time.Duration) (*account.Service, func(), error) {
	var st store.Store
	switch cfg.Store.Type {
	case "memory":
		return nil, nil, errors.New("store.type memory cannot be managed from the shell")
	case "redis":
		client, err := redisstore.NewClient(cfg.Store.Redis)
		if err != nil {
			return nil, nil, fmt.Errorf("store.redis: %w", err)
		}
		rs := redisstore.New(client, cfg.Store.Redis.Prefix, redisstore.WithTimeout(cfg.Store.Redis.Timeout))
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := rs.Ping(pctx); err != nil {
			_ = rs.Close()
			return nil, nil, fmt.Errorf("store.redis: cannot reach Redis: %w", err)
		}
		st = rs
	default:
		bs, err := boltstore.Open(cfg.Store.Path, boltstore.WithLockTimeout(wait))
		if err != nil {
			return nil, nil, fmt.Errorf("%w\n(a gateway running on this store answers on %s; none does, so the command tried the file itself and waited %s for its lock)", err, SocketPath(cfg), wait)
		}
		st = bs
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if b, ok := st.(lease.Backend); ok {
		// A revocation returns only once every gateway has applied it or
		// lost its lease (package lease), as it does from a gateway.
		st = lease.New(b, auth.NewRevocations(), "", quiet).Store(st)
	}
	// The changes go to the configured audit file like the gateway's; an
	// audit log on stdout or stderr is the gateway's stream, not this
	// command's output, so the command writes its events to stderr.
	out := cfg.Audit.Output
	if out == "stdout" {
		out = "stderr"
	}
	aud, err := audit.Open(out, os.Stderr, os.Stderr, nil)
	if err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	sessions := auth.NewSessions(st, nil, auth.NewRevocations(), cfg.Tokens)
	svc, err := account.New(cfg, st, auth.NewHasher(cfg.Passwords), sessions, account.Options{Logger: quiet, Audit: aud})
	if err != nil {
		_ = st.Close()
		_ = aud.Close()
		return nil, nil, err
	}
	return svc, func() { _ = st.Close(); _ = aud.Close() }, nil
}

func report(w io.Writer, op string, res Result, asJSON bool) {
	switch op {
	case "list":
		if asJSON {
			enc := json.NewEncoder(w)
			for _, u := range res.Users {
				_ = enc.Encode(u)
			}
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSERNAME\tEMAIL\tROLES\tACTIVE\tMUST-CHANGE")
		for _, u := range res.Users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%t\n", u.ID, u.Username, u.Email, strings.Join(u.Roles, ","), u.Active, u.MustChangePassword)
		}
		_ = tw.Flush()
	case "add", "show":
		b, _ := json.MarshalIndent(res.User, "", "  ")
		fmt.Fprintf(w, "%s\n", b)
	default:
		done := map[string]string{
			"set-password":    "password set; sessions ended",
			"set-roles":       "roles now " + strings.Join(res.User.Roles, ","),
			"disable":         "disabled; sessions ended",
			"enable":          "enabled",
			"delete":          "deleted; sessions ended",
			"revoke-sessions": "sessions ended",
			"reset-mfa":       "second factors deleted; sessions ended",
		}[op]
		fmt.Fprintf(w, "%s (%s): %s\n", res.User.Username, res.User.ID, done)
	}
}

// readPassword reads a password without echo from a terminal (twice, to
// catch typos), or else the first line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Repeat it: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ")
		}
		if len(a) == 0 {
			return "", errors.New("empty password")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on stdin (give it as the first line)")
	}
	return pw, nil
}

// parseInterspersed parses flags before, between and after positional
// arguments ("set-roles alice -config x admin").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func splitRoles(s string) []string {
	out := []string{}
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// actor names who runs the command in the gateway's logs: cli:<os user>.
func actor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:uid " + strconv.Itoa(os.Getuid())
}
