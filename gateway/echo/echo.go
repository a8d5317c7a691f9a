// Package echo is the tiny upstream of `authgate echo`: it answers every
// request with a JSON description of what reached it (method, path, query,
// headers, body size), so a new user sees exactly which identity headers
// authgate sets and which client headers it removed.
package echo

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
)

// Reply is the JSON body the echo upstream answers with.
type Reply struct {
	Method     string              `json:"method"`
	Path       string              `json:"path"`
	RawPath    string              `json:"raw_path,omitempty"`
	Query      string              `json:"query,omitempty"`
	Host       string              `json:"host"`
	RemoteAddr string              `json:"remote_addr"`
	Headers    map[string][]string `json:"headers"`
	HeaderKeys []string            `json:"header_names"`
	BodyBytes  int64               `json:"body_bytes"`
}

// Handler answers every request with its Reply.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		rep := Reply{
			Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, Query: r.URL.RawQuery,
			Host: r.Host, RemoteAddr: r.RemoteAddr, Headers: r.Header, HeaderKeys: keys, BodyBytes: n,
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	})
}
