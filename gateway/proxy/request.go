package proxy

import (
	"errors"
	"fmt"
	"strings"
)

// Header is one header field the gateway sets on the upstream request.
type Header struct {
	Name  string
	Value string
}

// Request is the gateway's decision about one client request: what Forward
// sends upstream beyond the client's own ordinary headers and body.
type Request struct {
	// Path is the normalized, authorized path. It is sent upstream byte for
	// byte: it must start with '/' and hold only visible ASCII other than '?'
	// and '#' (anything else is percent-encoded by the caller).
	Path string
	// RawQuery is the query as the client sent it, without '?'.
	RawQuery string
	// Identity are set on the upstream request after every client-sent copy
	// of these names and of StripNames has been removed.
	Identity []Header
	// StripNames are identity header names removed from the client's request
	// in every spelling: any letter case, and with '-' written as '_' or '.'
	// (any byte other than a letter or digit counts as '-').
	StripNames []string
	// KeepAuthorization forwards the client's Authorization header and access
	// cookie. Without it both are removed.
	KeepAuthorization bool
	// AccessCookie names the cookie carrying the access token; "" for none.
	AccessCookie string
	// RefreshCookie names the cookie carrying the refresh token; "" for
	// none. It is removed from Cookie always: a refresh token is authgate's
	// alone, whatever KeepAuthorization says.
	RefreshCookie string
	// ForwardedFor is the X-Forwarded-For value to send; the caller decides
	// whether the client's list was from a trusted proxy. "" sends none.
	ForwardedFor string
	// ForwardedProto and ForwardedHost are the X-Forwarded-Proto and
	// X-Forwarded-Host values to send; "" sends none. Every client-sent
	// Forwarded, X-Forwarded-*, X-Original-* and X-Real-IP is removed either
	// way.
	ForwardedProto, ForwardedHost string
	// RequestID, when not empty, replaces every client-sent X-Request-Id.
	RequestID string
	// TraceParent, when not empty (tracing is on), replaces every
	// client-sent traceparent and tracestate (W3C Trace Context), and
	// TraceState is sent when not empty. When empty (tracing is off), the
	// client's traceparent and tracestate pass as any other field.
	TraceParent, TraceState string
}

// ErrInvalidRequest reports a Request that Forward refuses to send: a path or
// query that would not reach the upstream as written, or a header name or
// value that is not a valid field. It is the caller's bug, not the client's.
var ErrInvalidRequest = errors.New("invalid proxy request")

// validate checks what Forward copies verbatim onto the wire.
func (r *Request) validate() error {
	if len(r.Path) == 0 || r.Path[0] != '/' {
		return fmt.Errorf("%w: path %q does not start with '/'", ErrInvalidRequest, r.Path)
	}
	if i := indexInvalid(r.Path, "?#"); i >= 0 {
		return fmt.Errorf("%w: path %q has byte %#x at %d", ErrInvalidRequest, r.Path, r.Path[i], i)
	}
	if i := indexInvalid(r.RawQuery, "#"); i >= 0 {
		return fmt.Errorf("%w: query has byte %#x at %d", ErrInvalidRequest, r.RawQuery[i], i)
	}
	for _, h := range r.Identity {
		if err := validField(h.Name, h.Value); err != nil {
			return err
		}
	}
	for _, v := range []string{r.ForwardedFor, r.ForwardedProto, r.ForwardedHost, r.RequestID, r.TraceParent, r.TraceState} {
		if err := validValue(v); err != nil {
			return err
		}
	}
	for _, n := range r.StripNames {
		if !isToken(n) {
			return fmt.Errorf("%w: header name %q", ErrInvalidRequest, n)
		}
	}
	return nil
}

// indexInvalid returns the index of the first byte of s that is not visible
// ASCII or is one of extra, or -1.
func indexInvalid(s, extra string) int {
	bad := &pathBad
	if extra == "#" {
		bad = &queryBad
	} else if extra != "?#" {
		bad = badTable(extra)
	}
	for i := 0; i < len(s); i++ {
		if bad[s[i]] {
			return i
		}
	}
	return -1
}

// pathBad and queryBad mark the bytes a path and a query may not hold.
var pathBad, queryBad = *badTable("?#"), *badTable("#")

func badTable(extra string) *[256]bool {
	var t [256]bool
	for c := range 256 {
		t[c] = c <= ' ' || c >= 0x7f
	}
	for i := 0; i < len(extra); i++ {
		t[extra[i]] = true
	}
	return &t
}

func validField(name, value string) error {
	if !isToken(name) {
		return fmt.Errorf("%w: header name %q", ErrInvalidRequest, name)
	}
	if err := validValue(value); err != nil {
		return fmt.Errorf("header %s: %w", name, err)
	}
	return nil
}

// validValue refuses the bytes that would end or split a header line.
func validValue(v string) error {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return fmt.Errorf("%w: header value has byte %#x at %d", ErrInvalidRequest, c, i)
		}
	}
	return nil
}

// ValidFieldName reports whether name is an RFC 9110 token, the syntax of a
// field name. fasthttp accepts names with spaces ("X Y: v"), which some
// backends read differently; the gateway refuses them.
func ValidFieldName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if !tokenByte[c] {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token, the syntax of a field name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return true
}

var tokenByte = func() (t [256]bool) {
	for c := range 256 {
		b := byte(c)
		t[c] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0
	}
	return t
}()
