package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"authgate/gateway/echo"
	"authgate/gateway/rules"
)

// FuzzFastPathAgreesWithTheFiberApp sends the same raw bytes to the fast
// path's loops (Serve) and to the Fiber app alone, and wants the same
// answers from both: as many responses, the same statuses and problem
// types, and, for a request that reached the upstream, the same request
// there (method, path, query, fields, body size). The method, the target,
// the Host value, the other header lines, the line endings and the body
// are mutated. Requests to the gateway's own routes other than GET and
// HEAD are skipped (a logout on one side would change the other's answer).
func FuzzFastPathAgreesWithTheFiberApp(f *testing.F) {
	type seed struct {
		method, target, host, lines string
		eol                         uint8
		body                        string
		token                       bool
	}
	for _, s := range []seed{
		{"GET", "/api/x?q=1", "app.test", "Accept: */*", 0, "", true},
		{"GET", "/public/a", "APP.test.", "", 0, "", false},
		{"HEAD", "/api/x", "app.test:8080", "", 0, "", true},
		{"GET", "/api/x", "admin.example:80:80", "", 0, "", true},
		{"GET", "/api/x", "host%2e", "", 0, "", true},
		{"GET", "/api/x", "a b", "", 0, "", true},
		{"GET", "/api/x", "[::1", "", 0, "", true},
		{"GET", "/api/x", "[::1]:80", "", 0, "", true},
		{"GET", "/api/x", "a/b", "", 0, "", true},
		{"GET", "/api/x", "app.test:", "", 0, "", true},
		{"GET", "/api/x", "app.test..", "", 0, "", true},
		{"GET", "/api/x", "app.test", "X-A: 1", 1, "", true},                                       // bare LF lines
		{"GET", "/api/x", "app.test", "X-A: 1", 3, "GET /api/y HTTP/1.1\r\nHost: a\r\n\r\n", true}, // bare LF blank line, then a pipelined request
		{"GET", "/api/x", "app.test", "X-A: 1", 2, "", true},                                       // mixed
		{"GET", "/api/x", "app.test", "X-A: 1\n folded", 0, "", true},                              // obs-fold
		{"GET", "/api/x", "app.test", "X-A : 1", 0, "", true},                                      // space before colon
		{"GET", "/api/x", "app.test", "Content-Length: 4", 0, "body", true},                        // GET with a body
		{"POST", "/api/x", "app.test", "Content-Length: 4\nTransfer-Encoding: chunked", 0, "0\r\n\r\n", true},
		{"POST", "/api/x", "app.test", "Transfer-Encoding: chunked", 0, "zz\r\n", true},
		{"POST", "/api/x", "app.test", "Content-Length: 1\nContent-Length: 2", 0, "ab", true},
		{"PROPFIND", "/api/x", "app.test", "Depth: 1", 0, "", true},
		{"TRACE", "/api/x", "app.test", "", 0, "", true},
		{"G(T", "/api/x", "app.test", "", 0, "", true},
		{"GET", "http://app.test/api/x", "APP.TEST", "", 0, "", true},
		{"GET", "http://evil/api/x", "app.test", "", 0, "", true},
		{"GET", "/api/../admin/x", "app.test", "", 0, "", true},
		{"GET", "/api/x", "app.test", "X-HTTP-Method-Override: DELETE\nX_Rewrite_URL: /admin", 0, "", true},
		{"GET", "/api/x", "app.test", "Expect: 100-continue", 0, "", false},
		{"GET", "/api/x", "app.test", "Host: other", 0, "", true},
	} {
		f.Add(s.method, s.target, s.host, s.lines, s.eol, s.body, s.token)
	}
	fe := newFastEnv(f, func(y string) string {
		y = strings.Replace(y, "rules:\n", "rules:\n  - {path: /hosted/**, policy: public, hosts: [app.test]}\n", 1)
		return y + "server: {read_timeout: 2s}\n"
	})
	f.Fuzz(func(t *testing.T, method, target, host, lines string, eol uint8, body string, token bool) {
		if len(method)+len(target)+len(host)+len(lines)+len(body) > 4096 {
			return
		}
		if path, _, err := rules.Normalize([]byte(target)); err == nil {
			if r, _ := fe.g.routes.lookup(path); r != nil && method != "GET" && method != "HEAD" {
				return
			}
		}
		if abs, rest, ok := rules.SplitAbsolute([]byte(target)); ok && abs != "" {
			if path, _, err := rules.Normalize(rest); err == nil {
				if r, _ := fe.g.routes.lookup(path); r != nil && method != "GET" && method != "HEAD" {
					return
				}
			}
		}
		raw := fuzzRequest(method, target, host, lines, eol, body, token, fe.user)
		got, gerr := exchange(fe.fast, raw, method)
		want, werr := exchange(fe.slow, raw, method)
		if (gerr != nil) != (werr != nil) {
			t.Fatalf("%q\nfast path: %v %v\nFiber app: %v %v", raw, got, gerr, want, werr)
		}
		if len(got) != len(want) {
			t.Fatalf("%q\nfast path answered %d times %v (%v)\nFiber app %d times %v (%v)", raw, len(got), got, gerr, len(want), want, werr)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%q\nanswer %d:\nfast path %s\nFiber app %s", raw, i, got[i], want[i])
			}
		}
	})
}

// fuzzRequest builds the request bytes. eol picks the line endings: 0 CRLF
// everywhere, 1 LF everywhere, 2 LF in the fields and CRLF for the blank
// line, 3 CRLF in the fields and LF for the blank line.
func fuzzRequest(method, target, host, lines string, eol uint8, body string, token bool, tok string) string {
	line, blank := "\r\n", "\r\n"
	switch eol % 4 {
	case 1:
		line, blank = "\n", "\n"
	case 2:
		line = "\n"
	case 3:
		blank = "\n"
	}
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1" + line)
	b.WriteString("Host: " + host + line)
	if token {
		b.WriteString("Authorization: Bearer " + tok + line)
	}
	for _, l := range strings.Split(lines, "\n") {
		if l != "" {
			b.WriteString(strings.TrimSuffix(l, "\r") + line)
		}
	}
	b.WriteString(blank)
	b.WriteString(body)
	return b.String()
}

// exchange writes raw on a new connection, closes its sending side, and
// returns every response read until the connection ends, each summarized
// as what must not depend on the path that answered it.
func exchange(addr, raw, method string) ([]string, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		return nil, err
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(conn)
	var out []string
	for {
		res, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF || strings.Contains(err.Error(), "connection reset") {
				return out, nil
			}
			return out, err
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return out, err
		}
		out = append(out, summarize(res, b))
		if res.StatusCode >= 100 && res.StatusCode < 200 {
			continue
		}
	}
}

func summarize(res *http.Response, body []byte) string {
	s := fmt.Sprintf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
	switch {
	case strings.Contains(res.Header.Get("Content-Type"), "problem+json"):
		var typ string
		if i := strings.Index(string(body), `"type":"`); i >= 0 {
			typ, _, _ = strings.Cut(string(body[i+8:]), `"`)
		}
		return s + " " + typ
	case strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && strings.Contains(string(body), `"remote_addr"`):
		var saw echo.Reply
		if err := json.Unmarshal(body, &saw); err != nil {
			return s + " unparsable echo " + err.Error()
		}
		saw.RemoteAddr, saw.HeaderKeys = "", nil
		delete(saw.Headers, "X-Request-Id")
		return s + " " + fmt.Sprint(saw)
	}
	return fmt.Sprintf("%s %d bytes", s, len(body))
}
