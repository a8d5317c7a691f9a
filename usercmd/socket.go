package usercmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"authgate/account"
	"authgate/audit"
	"authgate/config"
)

// SocketPath is where a gateway on the embedded store listens for commands:
// next to the store file, which is what the gateway holds locked.
func SocketPath(cfg *config.Config) string { return cfg.Store.Path + ".sock" }

const (
	socketRoute = "/v1/users"
	maxRequest  = 64 << 10
)

// Listen opens the control socket with mode 0600. A socket file left by a
// gateway that did not stop cleanly is replaced: whoever holds the store's
// lock (the caller) is the only gateway that can serve it.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// Serve answers commands on ln with the service svc returns (the current
// one: a config reload replaces it) until ctx ends. Each request runs
// Execute, exactly as the command line would on the store itself.
func Serve(ctx context.Context, ln net.Listener, svc func() *account.Service, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+socketRoute, func(w http.ResponseWriter, r *http.Request) {
		var req Request
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequest))
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		rctx, cancel := context.WithTimeout(audit.WithRequest(r.Context(), audit.Request{UserAgent: "authgate users (control socket)"}), 30*time.Second)
		defer cancel()
		res, err := Execute(rctx, svc(), req)
		if err != nil {
			log.Error("users command failed", "op", req.Op, "by", req.Actor, "err", err.Error())
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// socketAnswers tells whether a gateway listens on path. A socket file
// with nobody behind it was left by a gateway that is gone.
// A socket the caller may not use is an error: the gateway runs as another
// user.
func socketAnswers(ctx context.Context, path string) (bool, error) {
	conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "unix", path)
	if errors.Is(err, os.ErrPermission) {
		return false, fmt.Errorf("control socket %s: %w: run the command as the user the gateway runs as (or root)", path, err)
	}
	if err != nil {
		return false, nil
	}
	conn.Close()
	return true, nil
}

// viaSocket sends req to the gateway listening on path.
func viaSocket(ctx context.Context, path string, req Request) (Result, error) {
	d := &net.Dialer{Timeout: 2 * time.Second}
	// A POST is not retried by the transport, so a command runs at most once.
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "unix", path) },
	}}
	defer client.CloseIdleConnections()
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://authgate"+socketRoute, bytes.NewReader(body))
	if err != nil {
		return Result{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return Result{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return Result{}, fmt.Errorf("the running gateway could not run the command: %s", bytes.TrimSpace(b))
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		return Result{}, fmt.Errorf("control socket %s: bad answer: %w", path, err)
	}
	return res, nil
}
