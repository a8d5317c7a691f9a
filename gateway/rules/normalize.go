package rules

import "bytes"

// MaxTargetLength is the longest request target Normalize accepts, in bytes.
const MaxTargetLength = 8 << 10

// Byte classes of a raw request target; see classify.
const (
	classEncode    = iota // not allowed raw in a URI: percent-encode it
	classKeep             // unreserved, sub-delims, ":" and "@": keep as is
	classSlash            // "/"
	classPercent          // "%"
	classControl          // 0x00-0x1F, 0x7F: reject
	classBackslash        // "\": reject in the path
	classHash             // "#": a fragment, reject
	classQuestion         // "?": starts the query
	classOverlong         // 0xC0, 0xC1: reject in the path
)

// class holds the class of every byte value.
var class = classify()

func classify() [256]uint8 {
	var t [256]uint8 // zero is classEncode
	for c := 0; c < 256; c++ {
		switch {
		case c < 0x20 || c == 0x7f:
			t[c] = classControl
		case isUnreserved(byte(c)):
			t[c] = classKeep
		case c >= 0x80:
			t[c] = classEncode
		}
	}
	for _, c := range []byte("!$&'()*+,;=:@") {
		t[c] = classKeep
	}
	t['/'] = classSlash
	t['%'] = classPercent
	t['\\'] = classBackslash
	t['#'] = classHash
	t['?'] = classQuestion
	t[0xc0], t[0xc1] = classOverlong, classOverlong
	return t
}

// isUnreserved reports whether c is an RFC 3986 unreserved character, whose
// percent-encoded and plain forms are equivalent.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Normalize turns a raw origin-form request target (as the client sent it,
// "/a/b?x=1") into the one path that rules are matched on and that is sent
// upstream, and the raw query after the first "?". See the package
// documentation for the policy. Errors match ErrBadTarget and one of the
// reason sentinels (ErrEncodedSlash, ErrBadEscape, ...).
//
// On a target that is already normal it allocates once (the returned
// strings share one copy of target).
func Normalize(target []byte) (path, rawQuery string, err error) {
	if len(target) > MaxTargetLength {
		return "", "", ErrTooLong
	}
	if len(target) == 0 || target[0] != '/' {
		return "", "", ErrNotOrigin
	}
	rawPath, query, hasQuery := target, []byte(nil), false
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		rawPath, query, hasQuery = target[:i], target[i+1:], true
	}

	if isNormal(rawPath) && isNormalQuery(query) {
		s := string(target)
		if hasQuery {
			return s[:len(rawPath)], s[len(rawPath)+1:], nil
		}
		return s, "", nil
	}

	var buf [256]byte
	out, err := appendPath(buf[:0], rawPath)
	if err != nil {
		return "", "", err
	}
	n := len(out)
	if hasQuery {
		out = append(out, '?')
		if out, err = appendQuery(out, query); err != nil {
			return "", "", err
		}
	}
	if len(out) > MaxTargetLength { // encoding made it longer
		return "", "", ErrTooLong
	}
	var s string
	if bytes.Equal(out, target) {
		s = string(target)
	} else {
		s = string(out)
	}
	if hasQuery {
		return s[:n], s[n+1:], nil
	}
	return s, "", nil
}

// isNormal is a conservative fast check: it reports true only for a path
// that appendPath would return unchanged (only kept bytes, no empty
// segment, no segment starting with a dot).
func isNormal(p []byte) bool {
	prev := byte(0)
	for _, c := range p {
		switch class[c] {
		case classKeep:
			if c == '.' && prev == '/' {
				return false
			}
		case classSlash:
			if prev == '/' {
				return false
			}
		default:
			return false
		}
		prev = c
	}
	return true
}

// isNormalQuery reports whether appendQuery would return q unchanged.
func isNormalQuery(q []byte) bool {
	for _, c := range q {
		switch class[c] {
		case classKeep, classSlash, classPercent, classQuestion:
		default:
			return false
		}
	}
	return true
}

// appendPath appends the normalized form of the raw path p (which starts
// with "/" and holds no "?") to out.
func appendPath(out, p []byte) ([]byte, error) {
	out = append(out, '/')
	base := len(out) // out[base-1] is the root slash
	i := 1
	for i < len(p) {
		if p[i] == '/' { // an empty segment: collapse repeated slashes
			i++
			continue
		}
		start := len(out)
		for i < len(p) && p[i] != '/' {
			c := p[i]
			switch class[c] {
			case classKeep:
				out = append(out, c)
				i++
				continue
			case classEncode:
				out = append(out, '%', upperHex[c>>4], upperHex[c&15])
				i++
				continue
			case classPercent:
			case classControl:
				return nil, ErrControlChar
			case classBackslash:
				return nil, ErrBackslash
			case classHash:
				return nil, ErrFragment
			case classOverlong:
				return nil, ErrOverlongUTF8
			default: // classSlash and classQuestion cannot occur here
				return nil, ErrBadEscape
			}
			if i+2 >= len(p) {
				return nil, ErrBadEscape
			}
			hi, ok1 := unhex(p[i+1])
			lo, ok2 := unhex(p[i+2])
			if !ok1 || !ok2 {
				return nil, ErrBadEscape
			}
			v := hi<<4 | lo
			switch class[v] {
			case classKeep:
				if isUnreserved(v) {
					out = append(out, v)
				} else { // an encoded sub-delim, ":" or "@" differs from the plain one
					out = append(out, '%', upperHex[hi], upperHex[lo])
				}
			case classSlash:
				return nil, ErrEncodedSlash
			case classBackslash:
				return nil, ErrBackslash
			case classControl:
				return nil, ErrControlChar
			case classOverlong:
				return nil, ErrOverlongUTF8
			default:
				out = append(out, '%', upperHex[hi], upperHex[lo])
			}
			i += 3
		}
		seg := out[start:]
		switch {
		case len(seg) == 1 && seg[0] == '.':
			out = out[:start]
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			out = out[:start]
			if start > base { // remove the previous segment, never the root
				out = out[:bytes.LastIndexByte(out[:start-1], '/')+1]
			}
		default:
			if isDotSemicolon(seg) {
				return nil, ErrDotSemicolon
			}
			if i < len(p) { // the segment is followed by a slash
				out = append(out, '/')
			}
		}
	}
	return out, nil
}

// isDotSemicolon reports whether seg is "." or ".." followed by a path
// parameter (";" or "%3B"), a dot segment to Tomcat and Spring.
func isDotSemicolon(seg []byte) bool {
	if len(seg) == 0 || seg[0] != '.' {
		return false
	}
	rest := seg[1:]
	if len(rest) > 0 && rest[0] == '.' {
		rest = rest[1:]
	}
	return bytes.HasPrefix(rest, []byte(";")) || bytes.HasPrefix(rest, []byte("%3B"))
}

// appendQuery appends the query q to out, as sent except that bytes not
// allowed in a URI are percent-encoded. Escapes are not checked: the query
// plays no part in matching and the upstream parses it.
func appendQuery(out, q []byte) ([]byte, error) {
	for _, c := range q {
		switch class[c] {
		case classKeep, classSlash, classPercent, classQuestion:
			out = append(out, c)
		case classControl:
			return nil, ErrControlChar
		case classHash:
			return nil, ErrFragment
		default:
			out = append(out, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return out, nil
}

// SplitAbsolute splits an absolute-form target ("http://host:port/p?q")
// into its authority, lower-cased and with any port kept, and the
// origin-form rest ("/p?q", or "/" when the path is empty). ok is false,
// and rest is target, when target is not an http or https absolute-form
// target with a plain authority (no userinfo, only host name, IP literal
// and port characters); Normalize then rejects it with ErrNotOrigin.
//
// The caller must not take host decisions from the returned host without
// checking it against the Host header and the configured hosts.
func SplitAbsolute(target []byte) (host string, rest []byte, ok bool) {
	var n int
	switch {
	case len(target) >= 7 && bytes.EqualFold(target[:7], []byte("http://")):
		n = 7
	case len(target) >= 8 && bytes.EqualFold(target[:8], []byte("https://")):
		n = 8
	default:
		return "", target, false
	}
	end := n
	for end < len(target) && target[end] != '/' && target[end] != '?' {
		c := target[end]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == ':' || c == '[' || c == ']') {
			return "", target, false
		}
		end++
	}
	if end == n {
		return "", target, false
	}
	host = string(bytes.ToLower(target[n:end]))
	rest = target[end:]
	if len(rest) == 0 || rest[0] == '?' {
		rest = append([]byte{'/'}, rest...)
	}
	return host, rest, true
}
