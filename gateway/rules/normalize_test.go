package rules

import (
	"errors"
	"strings"
	"testing"
)

// normalizeCases are the request targets Normalize must get right; they
// also seed FuzzNormalize. The first rows are FIBER-NOTES.md's table.
var normalizeCases = []struct {
	name      string
	target    string
	wantPath  string
	wantQuery string
	wantErr   error
}{
	// FIBER-NOTES.md: what Fiber and fasthttp disagree on.
	{"dot-dot segment resolved so /public cannot reach /admin", "/public/../admin/x", "/admin/x", "", nil},
	{"encoded dot-dot resolved like a plain one", "/public/%2e%2e/admin/x", "/admin/x", "", nil},
	{"leading double slash collapsed", "//admin/x", "/admin/x", "", nil},
	{"dot-dot with encoded slash rejected", "/api/..%2fadmin", "", "", ErrEncodedSlash},
	{"encoded slash rejected, lower case", "/admin%2fx", "", "", ErrEncodedSlash},
	{"double-encoded dots stay literal", "/public/%252e%252e/admin", "/public/%252e%252e/admin", "", nil},
	{"encoded NUL rejected", "/admin%00", "", "", ErrControlChar},
	{"backslash dot-dot rejected", `/public\..\admin`, "", "", ErrBackslash},
	{"tomcat dot-dot-semicolon rejected", "/public/..;/admin", "", "", ErrDotSemicolon},
	{"absolute form is not origin form", "http://other.host/admin/x", "", "", ErrNotOrigin},

	// dot segments (RFC 3986 5.2.4), never above the root
	{"dot segments never climb above root", "/a/./b/../../../c", "/c", "", nil},
	{"dot-dot at root stays at root", "/..", "/", "", nil},
	{"many dot-dots at root stay at root", "/../../x", "/x", "", nil},
	{"single dot at root", "/.", "/", "", nil},
	{"trailing dot-dot leaves trailing slash", "/a/b/..", "/a/", "", nil},
	{"trailing dot leaves trailing slash", "/a/b/.", "/a/b/", "", nil},
	{"dot-dot removes only one segment", "/a/b/c/../d", "/a/b/d", "", nil},
	{"upper-case encoded dots resolved", "/a/%2E%2E/b", "/b", "", nil},
	{"half-encoded dot-dot resolved", "/a/.%2e/b", "/b", "", nil},
	{"encoded single dot removed", "/a/%2e/b", "/a/b", "", nil},
	{"three dots are an ordinary segment", "/a/.../b", "/a/.../b", "", nil},
	{"dot-dot built from three encoded parts is ordinary", "/a/..%2e/b", "/a/.../b", "", nil},
	{"dot-leading name is ordinary", "/.well-known/jwks.json", "/.well-known/jwks.json", "", nil},
	{"dot-dot after path parameter segment pops it", "/a;x/../admin", "/admin", "", nil},

	// slashes
	{"root kept", "/", "/", "", nil},
	{"double slash alone is root", "//", "/", "", nil},
	{"inner repeated slashes collapsed", "/a///b//c", "/a/b/c", "", nil},
	{"trailing slash kept", "/a/b/", "/a/b/", "", nil},
	{"repeated trailing slashes collapsed to one", "/a//", "/a/", "", nil},

	// percent-encoding
	{"encoded tilde decoded", "/%7Euser", "/~user", "", nil},
	{"encoded tilde decoded, lower-case hex", "/%7euser", "/~user", "", nil},
	{"encoded letter decoded", "/%41dmin", "/Admin", "", nil},
	{"encoded unreserved punctuation decoded", "/%2D%5F%2e%7E", "/-_.~", "", nil},
	{"encoded percent kept", "/a%25", "/a%25", "", nil},
	{"literal hex after encoded percent not upper-cased", "/a/%252e", "/a/%252e", "", nil},
	{"reserved escapes kept with upper-case hex", "/a%3bb%40c%3f", "/a%3Bb%40c%3F", "", nil},
	{"non-ASCII escapes upper-cased", "/caf%c3%a9", "/caf%C3%A9", "", nil},
	{"raw non-ASCII encoded so both spellings match", "/caf\xc3\xa9", "/caf%C3%A9", "", nil},
	{"raw space encoded", "/a b", "/a%20b", "", nil},
	{"raw brackets and quote encoded", `/a[b]"`, "/a%5Bb%5D%22", "", nil},
	{"upper-case encoded slash rejected", "/admin%2Fx", "", "", ErrEncodedSlash},
	{"encoded backslash rejected", "/a%5cb", "", "", ErrBackslash},
	{"encoded backslash rejected, upper case", "/a%5Cb", "", "", ErrBackslash},
	{"non-hex escape rejected", "/a%zz", "", "", ErrBadEscape},
	{"one-digit escape at end rejected", "/a%4", "", "", ErrBadEscape},
	{"bare percent at end rejected", "/a%", "", "", ErrBadEscape},
	{"half-hex escape rejected", "/%4g", "", "", ErrBadEscape},
	{"IIS %u escape rejected", "/%u002e%u002e/admin", "", "", ErrBadEscape},
	{"encoded newline rejected", "/admin%0a", "", "", ErrControlChar},
	{"encoded DEL rejected", "/a%7F", "", "", ErrControlChar},
	{"raw NUL rejected", "/admin\x00", "", "", ErrControlChar},
	{"raw tab rejected", "/a\tb", "", "", ErrControlChar},
	{"raw DEL rejected", "/a\x7f", "", "", ErrControlChar},
	{"raw backslash rejected", `/a\b`, "", "", ErrBackslash},
	{"overlong slash rejected", "/a%c0%af", "", "", ErrOverlongUTF8},
	{"raw overlong lead byte rejected", "/a\xc1\x9c", "", "", ErrOverlongUTF8},

	// path parameters
	{"semicolon kept as an ordinary byte", "/a;b=c/d", "/a;b=c/d", "", nil},
	{"dot-semicolon rejected", "/.;/admin", "", "", ErrDotSemicolon},
	{"dot-dot with parameter value rejected", "/x/..;jsessionid=1/admin", "", "", ErrDotSemicolon},
	{"dot-dot with encoded semicolon rejected", "/x/..%3b/admin", "", "", ErrDotSemicolon},
	{"encoded dot-dot with semicolon rejected", "/x/%2e%2e;/admin", "", "", ErrDotSemicolon},
	{"three dots with semicolon ordinary", "/x/...;/a", "/x/...;/a", "", nil},

	// query and fragment
	{"query kept raw", "/a?x=1&y=%zz&z=%2f", "/a", "x=1&y=%zz&z=%2f", nil},
	{"query split at the first question mark", "/a?b?c/d", "/a", "b?c/d", nil},
	{"empty query", "/a?", "/a", "", nil},
	{"query of a normalized path kept", "/a/../b?x=1", "/b", "x=1", nil},
	{"raw space in query encoded", "/a?b c", "/a", "b%20c", nil},
	{"control byte in query rejected", "/a?x=\x01", "", "", ErrControlChar},
	{"fragment rejected", "/a#frag", "", "", ErrFragment},
	{"fragment after query rejected", "/a?x#y", "", "", ErrFragment},
	{"question mark encoded in path kept", "/a%3Fb?c", "/a%3Fb", "c", nil},

	// form
	{"empty target rejected", "", "", "", ErrNotOrigin},
	{"asterisk form rejected", "*", "", "", ErrNotOrigin},
	{"relative path rejected", "a/b", "", "", ErrNotOrigin},
	{"clean path unchanged", "/api/users/42", "/api/users/42", "", nil},
}

func TestNormalize(t *testing.T) {
	for _, tc := range normalizeCases {
		t.Run(tc.name, func(t *testing.T) {
			path, query, err := Normalize([]byte(tc.target))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Normalize(%q) = %q, %q, %v; want error %v", tc.target, path, query, err, tc.wantErr)
				}
				if !errors.Is(err, ErrBadTarget) {
					t.Errorf("error %v does not match ErrBadTarget", err)
				}
				var te *TargetError
				if !errors.As(err, &te) || te.Reason == "" {
					t.Errorf("error %v is not a *TargetError with a reason", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%q): %v", tc.target, err)
			}
			if path != tc.wantPath || query != tc.wantQuery {
				t.Errorf("Normalize(%q) = %q, %q; want %q, %q", tc.target, path, query, tc.wantPath, tc.wantQuery)
			}
		})
	}
}

func TestNormalizeLengthLimit(t *testing.T) {
	longest := "/" + strings.Repeat("a", MaxTargetLength-1)
	if p, _, err := Normalize([]byte(longest)); err != nil || p != longest {
		t.Errorf("target of MaxTargetLength bytes: %v", err)
	}
	if _, _, err := Normalize([]byte(longest + "a")); !errors.Is(err, ErrTooLong) {
		t.Errorf("target of MaxTargetLength+1 bytes: got %v, want ErrTooLong", err)
	}
	grows := "/a?" + strings.Repeat(" ", MaxTargetLength/2) // each space becomes %20
	if _, _, err := Normalize([]byte(grows)); !errors.Is(err, ErrTooLong) {
		t.Errorf("target whose normal form exceeds MaxTargetLength: got %v, want ErrTooLong", err)
	}
}

func TestNormalizeResultDoesNotAliasInput(t *testing.T) {
	// fasthttp reuses its request buffers: the strings must be copies.
	for _, target := range []string{"/api/users/42?x=1", "/a/../b?x=1"} {
		buf := []byte(target)
		path, query, err := Normalize(buf)
		if err != nil {
			t.Fatal(err)
		}
		before := path + "?" + query
		for i := range buf {
			buf[i] = 'z'
		}
		if path+"?"+query != before {
			t.Errorf("Normalize(%q) result changed with its input", target)
		}
	}
}

func TestNormalizeAllocatesOnceOnCleanAndShortDottedTargets(t *testing.T) {
	for _, target := range []string{"/api/users/42", "/api/users?page=2", "/public/../admin/x"} {
		b := []byte(target)
		n := testing.AllocsPerRun(100, func() {
			if _, _, err := Normalize(b); err != nil {
				t.Fatal(err)
			}
		})
		if n > 1 {
			t.Errorf("Normalize(%q): %v allocations, want at most 1", target, n)
		}
	}
}

func TestSplitAbsolute(t *testing.T) {
	cases := []struct {
		name, target, wantHost, wantRest string
		wantOK                           bool
	}{
		{"absolute form split into host and path", "http://other.host/admin/x", "other.host", "/admin/x", true},
		{"scheme and host case folded, port kept", "HTTPS://Other.Host:8443/a?x=1", "other.host:8443", "/a?x=1", true},
		{"empty path becomes root", "http://h", "h", "/", true},
		{"query without path gets root", "http://h?x=1", "h", "/?x=1", true},
		{"IPv6 literal", "http://[::1]:8080/x", "[::1]:8080", "/x", true},
		{"userinfo refused", "http://user@evil/x", "", "http://user@evil/x", false},
		{"empty host refused", "http:///x", "", "http:///x", false},
		{"other scheme refused", "ftp://h/x", "", "ftp://h/x", false},
		{"origin form is not absolute", "/x", "", "/x", false},
		{"control byte in host refused", "http://h\x00/x", "", "http://h\x00/x", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host, rest, ok := SplitAbsolute([]byte(tc.target))
			if host != tc.wantHost || string(rest) != tc.wantRest || ok != tc.wantOK {
				t.Errorf("SplitAbsolute(%q) = %q, %q, %v; want %q, %q, %v",
					tc.target, host, rest, ok, tc.wantHost, tc.wantRest, tc.wantOK)
			}
		})
	}
}

func TestFastPathAgreesWithFullNormalization(t *testing.T) {
	for _, tc := range normalizeCases {
		checkFastPath(t, []byte(tc.target))
	}
}

// checkFastPath fails when isNormal accepts a path that appendPath would
// change or reject.
func checkFastPath(t *testing.T, target []byte) {
	t.Helper()
	if len(target) == 0 || target[0] != '/' {
		return
	}
	p := target
	if i := strings.IndexByte(string(target), '?'); i >= 0 {
		p = target[:i]
	}
	if !isNormal(p) {
		return
	}
	out, err := appendPath(nil, p)
	if err != nil || string(out) != string(p) {
		t.Errorf("isNormal(%q) but appendPath gives %q, %v", p, out, err)
	}
}
