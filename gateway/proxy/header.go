package proxy

import (
	"iter"
	"sync"

	"github.com/valyala/fasthttp"
)

// scratch holds the buffers one header rewrite needs, pooled so that a
// rewrite allocates nothing.
type scratch struct {
	tokens  [][]byte // names listed in Connection headers
	cookie  []byte   // the Cookie value without the access cookie
	badName []byte   // set by eachClientField: a field name that is not a token
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// This file holds every header decision of the proxy. The upstream request is
// built by copying the client's header field by field and leaving out what
// must not pass; nothing is deleted in place, so a second copy of a field, or
// a spelling that fasthttp's Del would not find, cannot survive.

// foldTable maps a header-name byte to what a lenient backend makes of it:
// letters fold to lower case, digits stay, and every other byte reads as '-'.
// PHP, WSGI and CGI turn '-', '_' and '.' alike into '_', so X_User_Id and
// X.User.Id reach them as X-User-Id does.
var foldTable = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		switch {
		case 'A' <= c && c <= 'Z':
			t[i] = c + 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			t[i] = c
		default:
			t[i] = '-'
		}
	}
	return t
}()

// sameField reports whether the header name key names the field name for a
// backend that ignores case and reads any separator as '-'.
func sameField[N string | []byte](key []byte, name N) bool {
	if len(key) != len(name) {
		return false
	}
	for i := 0; i < len(key); i++ {
		if foldTable[key[i]] != foldTable[name[i]] {
			return false
		}
	}
	return true
}

// hasFieldPrefix reports whether key starts with prefix, spelled loosely as in
// sameField.
func hasFieldPrefix(key []byte, prefix string) bool {
	return len(key) >= len(prefix) && sameField(key[:len(prefix)], prefix)
}

// isHopByHop reports whether key is a hop-by-hop field (RFC 9110 section 7.6.1,
// plus the non-standard Proxy-Connection): it describes one connection and is
// never forwarded.
func isHopByHop(key []byte) bool {
	switch len(key) {
	case 2:
		return sameField(key, "TE")
	case 7:
		return sameField(key, "Upgrade") || sameField(key, "Trailer")
	case 10:
		return sameField(key, "Connection") || sameField(key, "Keep-Alive")
	case 16:
		return sameField(key, "Proxy-Connection")
	case 17:
		return sameField(key, "Transfer-Encoding")
	case 18:
		return sameField(key, "Proxy-Authenticate")
	case 19:
		return sameField(key, "Proxy-Authorization")
	}
	return false
}

// isForwardingField reports whether key carries what some proxy claims about
// the client (Forwarded, X-Forwarded-*, X-Original-*, X-Real-IP). The client
// may have written any of them; the gateway sets its own.
func isForwardingField(key []byte) bool {
	return sameField(key, "Forwarded") ||
		sameField(key, "X-Real-IP") ||
		hasFieldPrefix(key, "X-Forwarded-") ||
		hasFieldPrefix(key, "X-Original-")
}

// connectionTokens appends to dst the field names listed in every Connection
// header of a message; those fields are hop-by-hop too. The slices point into
// the header and are valid while it is not modified.
func connectionTokens(dst [][]byte, all iter.Seq2[[]byte, []byte]) [][]byte {
	for k, v := range all {
		if !sameField(k, "Connection") {
			continue
		}
		for len(v) > 0 {
			var tok []byte
			if tok, v = cutListElement(v); len(tok) > 0 {
				dst = append(dst, tok)
			}
		}
	}
	return dst
}

// cutListElement splits a comma-separated field value into its first
// element, without the optional white space around it, and the rest.
func cutListElement(v []byte) (elem, rest []byte) {
	if i := indexByte(v, ','); i >= 0 {
		return trimOWS(v[:i]), v[i+1:]
	}
	return trimOWS(v), nil
}

// hasToken reports whether any header named name holds token in its
// comma-separated value, ignoring case (Connection: keep-alive, Upgrade).
func hasToken(all iter.Seq2[[]byte, []byte], name, token string) bool {
	for k, v := range all {
		if !sameField(k, name) {
			continue
		}
		for len(v) > 0 {
			var tok []byte
			if tok, v = cutListElement(v); sameField(tok, token) {
				return true
			}
		}
	}
	return false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// trimOWS trims the optional white space around a list element.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// listed reports whether key is one of the Connection-listed names.
func listed(key []byte, tokens [][]byte) bool {
	for _, t := range tokens {
		if sameField(key, t) {
			return true
		}
	}
	return false
}

// isIdentityField reports whether key is an identity header of r: one of
// StripNames or one the gateway is about to set.
func isIdentityField(key []byte, r *Request) bool {
	for _, n := range r.StripNames {
		if sameField(key, n) {
			return true
		}
	}
	for i := range r.Identity {
		if sameField(key, r.Identity[i].Name) {
			return true
		}
	}
	return false
}

// appendCookiesWithout appends to dst the cookie-string v without every
// cookie named name or name2 ("" names none), read as backends read it: pairs split at ';', the name
// before the first '=' with white space trimmed, a pair without '=' taken as
// a name. The rest is kept as it was.
func appendCookiesWithout(dst, v []byte, name, name2 string) []byte {
	for len(v) > 0 {
		var pair []byte
		if i := indexByte(v, ';'); i >= 0 {
			pair, v = v[:i], v[i+1:]
		} else {
			pair, v = v, nil
		}
		pair = trimOWS(pair)
		n := pair
		if i := indexByte(pair, '='); i >= 0 {
			n = trimOWS(pair[:i])
		}
		if len(pair) == 0 || (name != "" && string(n) == name) || (name2 != "" && string(n) == name2) {
			continue
		}
		if len(dst) > 0 {
			dst = append(dst, "; "...)
		}
		dst = append(dst, pair...)
	}
	return dst
}

// dropRequestField reports whether the client's header key must not reach the
// upstream. Host and Content-Length are left out too: the proxy sets the
// upstream's host and the body framing itself.
func dropRequestField(key []byte, r *Request, tokens [][]byte) bool {
	return isHopByHop(key) ||
		sameField(key, "Host") ||
		sameField(key, "Content-Length") ||
		sameField(key, "Expect") || // the gateway has already answered it
		isForwardingField(key) ||
		(!r.KeepAuthorization && sameField(key, "Authorization")) ||
		isIdentityField(key, r) ||
		(r.RequestID != "" && sameField(key, "X-Request-Id")) ||
		(r.TraceParent != "" && isTraceField(key)) ||
		listed(key, tokens)
}

// isTraceField reports whether key is a W3C Trace Context field.
func isTraceField(key []byte) bool {
	return sameField(key, "traceparent") || sameField(key, "tracestate")
}

// eachClientField calls f with each of the client's fields of src that go
// upstream: all but those dropRequestField names, with the access cookie
// removed from Cookie. At a field name that is not a token it stops and
// sets s.badName (nil otherwise). The slices are valid during the call only.
// (A callback rather than an iterator: an iterator's closure would move r,
// and with it the caller's Request, to the heap on every request.)
func eachClientField(src *fasthttp.RequestHeader, r *Request, s *scratch, f func(k, v []byte)) {
	s.badName = nil
	s.tokens = connectionTokens(s.tokens[:0], src.All())
	access := r.AccessCookie
	if r.KeepAuthorization {
		access = ""
	}
	dropCookie := access != "" || r.RefreshCookie != ""
	for k, v := range src.All() {
		if !ValidFieldName(k) {
			s.badName = k
			return
		}
		if dropRequestField(k, r, s.tokens) {
			continue
		}
		if dropCookie && sameField(k, "Cookie") {
			s.cookie = appendCookiesWithout(s.cookie[:0], v, access, r.RefreshCookie)
			if len(s.cookie) == 0 {
				continue
			}
			v = s.cookie
		}
		f(k, v)
	}
}

// eachGatewayField calls f with each field the gateway sets upstream: the
// identity fields of r, then X-Forwarded-For, -Proto, -Host, X-Request-Id,
// traceparent and tracestate when r has them.
func eachGatewayField(r *Request, f func(k, v string)) {
	for i := range r.Identity {
		f(r.Identity[i].Name, r.Identity[i].Value)
	}
	for _, kv := range [...][2]string{
		{fasthttp.HeaderXForwardedFor, r.ForwardedFor},
		{fasthttp.HeaderXForwardedProto, r.ForwardedProto},
		{fasthttp.HeaderXForwardedHost, r.ForwardedHost},
		{"X-Request-Id", r.RequestID},
	} {
		if kv[1] != "" {
			f(kv[0], kv[1])
		}
	}
	if r.TraceParent != "" {
		f("Traceparent", r.TraceParent)
		if r.TraceState != "" {
			f("Tracestate", r.TraceState)
		}
	}
}

// rewriteRequestHeader fills dst, an empty header, from the client's header
// src and the gateway's decision r: eachClientField, then eachGatewayField. With
// upgrade set, Connection: Upgrade and the client's Upgrade value are sent
// (WebSocket). The gateway has refused requests with a field name that is
// not a token before (eachClientField would stop there).
func rewriteRequestHeader(dst, src *fasthttp.RequestHeader, r *Request, upgrade bool, s *scratch) {
	dst.SetMethodBytes(src.Method())
	eachClientField(src, r, s, func(k, v []byte) { dst.AddBytesKV(k, v) })
	if upgrade {
		for k, v := range src.All() {
			if sameField(k, "Upgrade") {
				dst.SetBytesV(fasthttp.HeaderUpgrade, v)
				break
			}
		}
		dst.Set(fasthttp.HeaderConnection, "Upgrade")
	}
	eachGatewayField(r, func(k, v string) { dst.Set(k, v) })
}

// dropResponseField reports whether the upstream's header key must not reach
// the client: hop-by-hop fields and those its Connection header lists. Body
// framing (Content-Length, Transfer-Encoding) is set by the proxy. With
// upgrade set (a 101 answer) Connection and Upgrade are written by the caller.
func dropResponseField(key []byte, tokens [][]byte) bool {
	return isHopByHop(key) ||
		sameField(key, "Content-Length") ||
		listed(key, tokens)
}

// copyResponseHeader adds to dst the upstream's status and every field of src
// that dropResponseField lets through. Fields the gateway set on dst before
// stay; the body framing is left to the caller.
func copyResponseHeader(dst, src *fasthttp.ResponseHeader, s *scratch) {
	s.tokens = connectionTokens(s.tokens[:0], src.All())
	dst.SetNoDefaultContentType(true)
	dst.SetStatusCode(src.StatusCode())
	if msg := src.StatusMessage(); len(msg) > 0 {
		dst.SetStatusMessage(msg)
	}
	for k, v := range src.All() {
		if dropResponseField(k, s.tokens) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
}

// appendSwitchingProtocols appends the 101 head relayed to a WebSocket
// client: the upstream's fields after dropResponseField, then the
// Connection and Upgrade of the protocol switch.
func appendSwitchingProtocols(dst []byte, src *fasthttp.ResponseHeader, s *scratch) []byte {
	s.tokens = connectionTokens(s.tokens[:0], src.All())
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\n"...)
	var upgrade []byte
	for k, v := range src.All() {
		if sameField(k, "Upgrade") && upgrade == nil {
			upgrade = v
		}
		if dropResponseField(k, s.tokens) || sameField(k, "Content-Type") {
			continue
		}
		dst = appendField(dst, k, v)
	}
	if upgrade == nil {
		upgrade = []byte("websocket")
	}
	dst = appendField(dst, []byte("Upgrade"), upgrade)
	dst = appendField(dst, []byte("Connection"), []byte("Upgrade"))
	return append(dst, "\r\n"...)
}

func appendField(dst, k, v []byte) []byte {
	dst = append(dst, k...)
	dst = append(dst, ": "...)
	dst = append(dst, v...)
	return append(dst, "\r\n"...)
}
