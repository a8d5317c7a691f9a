package fastpath

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// eligible reports whether the loop may serve the request: a bodiless
// request on a persistent HTTP/1.1 connection, no Expect, no Upgrade. Any
// method: Handler.Route declines what the loop does not serve (it proxies
// GET and HEAD only, and answers forward-auth, which nginx asks with the
// original request's method).
func eligible(h *fasthttp.RequestHeader) bool {
	// ContentLength is -2 when the request has no Content-Length and no
	// Transfer-Encoding: no body.
	if cl := h.ContentLength(); cl != 0 && cl != -2 {
		return false
	}
	if !h.IsHTTP11() || h.ConnectionClose() {
		return false
	}
	for k := range h.All() {
		switch len(k) {
		case 6:
			if fold(k, "expect") {
				return false
			}
		case 7:
			if fold(k, "upgrade") {
				return false
			}
		case 17:
			if fold(k, "transfer-encoding") {
				return false
			}
		}
	}
	return true
}

// fold reports whether k equals lower, ignoring ASCII case.
func fold(k []byte, lower string) bool {
	for i := range len(k) {
		b := k[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != lower[i] {
			return false
		}
	}
	return true
}

// headEnd returns the length of the head ending in the first empty line
// (CRLF CRLF), or -1.
func headEnd(b []byte) int {
	if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return -1
}
