// Package reqhead is the one reading of a client's request head that both of
// authgate's front ends use: the Fiber app (fasthttp's server) and the fast
// path's event loops (package fastpath). Whatever the two must decide alike
// about the head itself, before any rule is matched, is decided here:
//
//   - Host: which values are a valid Host (RFC 9110 section 7.2, RFC 3986
//     section 3.2.2) and their one normalized spelling, which the rules'
//     hosts match and which is sent upstream as X-Forwarded-Host;
//   - the method: any RFC 9110 token, nothing else;
//   - the message framing fasthttp accepts but a gateway should not pass
//     on: obs-fold, Content-Length together with Transfer-Encoding, a
//     Transfer-Encoding other than chunked;
//   - which methods carry no body by default (BodylessMethod).
//
// It refuses, and never repairs, what another reader could take another way.
// It knows nothing of Fiber, the rules or the upstreams.
package reqhead

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// ErrHost is wrapped by Host's errors.
var ErrHost = errors.New("invalid Host")

// maxHost bounds a Host value: 253 bytes of DNS name, brackets and a port.
const maxHost = 255 + 7

// Host checks a Host header value (or the authority of an absolute-form
// target, which must then be checked against the Host header) and returns
// its normalized form: the host lower-cased, one trailing dot removed, an
// IPv6 literal in its canonical text in brackets, and the port, when there
// is one, in decimal without leading zeros ("App.Example.:0080" becomes
// "app.example:80"). Accepted are a registered name of letters, digits,
// '-' and '_' in dot-separated non-empty labels, an IPv4 address in dotted
// decimal, and a bracketed IPv6 address without zone, each with an optional
// port (1 to 65535). Refused, with an error wrapping ErrHost: an empty
// value, an empty port ("a:"), percent-encoding ("host%2e"), any other byte
// (space, '/', '@', ...), two ports ("a:80:80"), an unclosed bracket, an
// empty label ("a..b", ".a", "a.."), and a name whose last label is all
// digits but that is not an IPv4 address ("127.1", "1.2.3.256"), which
// resolvers read as an address.
//
// More than one trailing dot is an empty label, and refused: "a.example."
// and "a.example" name the same host (the root label made explicit), but
// "a.example.." names none.
//
// When v is already normal, the result shares v's memory (no allocation):
// use it only while v is unchanged.
func Host(v []byte) (string, error) {
	if len(v) == 0 {
		return "", errors.Join(ErrHost, errors.New("empty"))
	}
	if len(v) > maxHost {
		return "", errors.Join(ErrHost, errors.New("too long"))
	}
	host, port, err := splitHostPort(v)
	if err != nil {
		return "", err
	}
	if host[0] == '[' {
		return ipv6Host(v, host, port)
	}
	normal := true
	label, digitsOnly := 0, true
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'a' <= c && c <= 'z', c == '-', c == '_':
			digitsOnly = false
		case '0' <= c && c <= '9':
		case 'A' <= c && c <= 'Z':
			normal, digitsOnly = false, false
		case c == '.':
			if label == 0 {
				return "", errors.Join(ErrHost, errors.New("empty label"))
			}
			if label > 63 {
				return "", errors.Join(ErrHost, errors.New("label longer than 63 bytes"))
			}
			if i == len(host)-1 {
				normal = false // one trailing dot: the root label, dropped
				continue
			}
			label, digitsOnly = -1, true
		default:
			return "", errors.Join(ErrHost, errors.New("byte "+strconv.QuoteRune(rune(c))+" is not allowed in a host name"))
		}
		label++
	}
	name := host
	if name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	if label > 63 {
		return "", errors.Join(ErrHost, errors.New("label longer than 63 bytes"))
	}
	if digitsOnly {
		// The last label is numeric: only a dotted-decimal IPv4 address.
		ip, err := netip.ParseAddr(string(name))
		if err != nil || !ip.Is4() {
			return "", errors.Join(ErrHost, errors.New("numeric host that is not an IPv4 address"))
		}
	}
	if normal && (port == nil || normalPort(port)) {
		return unsafe.String(&v[0], len(v)), nil
	}
	out := make([]byte, 0, len(v))
	for _, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(appendPort(out, port)), nil
}

// splitHostPort splits v at the port's colon; port is nil without one.
func splitHostPort(v []byte) (host, port []byte, err error) {
	end := len(v)
	if v[0] == '[' {
		i := indexByte(v, ']')
		if i < 0 {
			return nil, nil, errors.Join(ErrHost, errors.New("missing ']'"))
		}
		end = i + 1
		if end < len(v) && v[end] != ':' {
			return nil, nil, errors.Join(ErrHost, errors.New("bytes after ']'"))
		}
	} else if i := indexByte(v, ':'); i >= 0 {
		end = i
	}
	host = v[:end]
	if end < len(v) {
		port = v[end+1:]
		if len(port) == 0 {
			return nil, nil, errors.Join(ErrHost, errors.New("empty port"))
		}
		n := 0
		for _, c := range port {
			if c < '0' || c > '9' {
				return nil, nil, errors.Join(ErrHost, errors.New("port is not a number (two ports?)"))
			}
			if n = n*10 + int(c-'0'); n > 65535 {
				return nil, nil, errors.Join(ErrHost, errors.New("port out of range"))
			}
		}
		if n == 0 {
			return nil, nil, errors.Join(ErrHost, errors.New("port 0"))
		}
	}
	if len(host) == 0 {
		return nil, nil, errors.Join(ErrHost, errors.New("empty host"))
	}
	return host, port, nil
}

func ipv6Host(v, host, port []byte) (string, error) {
	ip, err := netip.ParseAddr(string(host[1 : len(host)-1]))
	if err != nil || !ip.Is6() || ip.Zone() != "" {
		return "", errors.Join(ErrHost, errors.New("invalid IPv6 literal"))
	}
	s := ip.String()
	if len(s)+2 == len(host) && string(host[1:len(host)-1]) == s && (port == nil || normalPort(port)) {
		return unsafe.String(&v[0], len(v)), nil
	}
	out := append(append(append(make([]byte, 0, len(s)+8), '['), s...), ']')
	return string(appendPort(out, port)), nil
}

func normalPort(p []byte) bool { return p[0] != '0' }

func appendPort(dst, port []byte) []byte {
	if port == nil {
		return dst
	}
	n, _ := strconv.Atoi(string(port))
	return strconv.AppendInt(append(dst, ':'), int64(n), 10)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// HostName is h without its port: what a rule's hosts are compared with.
func HostName(h string) string {
	if len(h) > 0 && h[0] == '[' {
		for i := range len(h) {
			if h[i] == ']' {
				return h[:i+1]
			}
		}
		return h
	}
	for i := range len(h) {
		if h[i] == ':' {
			return h[:i]
		}
	}
	return h
}

// ValidMethod reports whether m is an RFC 9110 method: a token (section
// 9.1). Methods are case-sensitive; any token is accepted here, the rules
// decide which may pass.
func ValidMethod(m []byte) bool {
	if len(m) == 0 {
		return false
	}
	for _, c := range m {
		if !tokenByte[c] {
			return false
		}
	}
	return true
}

var tokenByte = func() (t [256]bool) {
	for c := range 256 {
		b := byte(c)
		t[c] = 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			indexByte([]byte("!#$%&'*+-.^_`|~"), b) >= 0
	}
	return t
}()

// BodylessMethod reports whether m is a method whose request has no defined
// body semantics (RFC 9110 section 9.3): GET, HEAD, OPTIONS, DELETE and
// TRACE. A body on one of them is refused by default: an upstream that
// ignores it would read it as the next request on the connection, carrying
// whatever identity headers the body holds.
func BodylessMethod(m []byte) bool {
	switch string(m) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions, fasthttp.MethodDelete, fasthttp.MethodTrace:
		return true
	}
	return false
}

// HasBody reports whether the request head h announces a body:
// Content-Length greater than 0, or chunked.
func HasBody(h *fasthttp.RequestHeader) bool {
	cl := h.ContentLength()
	return cl > 0 || cl == -1
}

// Framing errors.
var (
	ErrObsFold       = errors.New("a header line continues the previous one (obs-fold, RFC 9112 section 5.2)")
	ErrLengthAndTE   = errors.New("both Content-Length and Transfer-Encoding (RFC 9112 section 6.3)")
	ErrTransferCode  = errors.New("Transfer-Encoding other than chunked")
	ErrLineEndInHead = errors.New("a CR not followed by LF in the head")
)

// Framing checks the raw header block of h (fasthttp keeps it as
// RawHeaders when it parses a request) for what fasthttp reads leniently but
// a gateway refuses: an obs-fold line, Content-Length next to
// Transfer-Encoding (fasthttp drops the length and reads chunked) and a
// Transfer-Encoding other than "chunked" (fasthttp ignores "identity").
// Bare LF line endings are accepted, as RFC 9112 section 2.2 allows, and
// read alike by both paths. It returns nil for a header that was not parsed
// from bytes.
func Framing(h *fasthttp.RequestHeader) error {
	raw := h.RawHeaders()
	hasCL, hasTE := false, false
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		line := raw
		if i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			break // the end of the head
		}
		if line[0] == ' ' || line[0] == '\t' {
			return ErrObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue // fasthttp refused or skipped it already
		}
		name := line[:colon]
		switch {
		case fold(name, "content-length"):
			hasCL = true
		case fold(name, "transfer-encoding"):
			hasTE = true
			if !fold(trim(line[colon+1:]), "chunked") {
				return ErrTransferCode
			}
		}
	}
	if hasCL && hasTE {
		return ErrLengthAndTE
	}
	return nil
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// fold reports whether b equals lower, ignoring ASCII case.
func fold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
