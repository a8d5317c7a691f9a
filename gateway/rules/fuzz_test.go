package rules

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"

	"authgate/config"
)

func FuzzNormalize(f *testing.F) {
	for _, tc := range normalizeCases {
		f.Add([]byte(tc.target))
	}
	f.Fuzz(func(t *testing.T, target []byte) {
		orig := bytes.Clone(target)
		path, query, err := Normalize(target)
		if !bytes.Equal(orig, target) {
			t.Fatalf("Normalize modified its input %.200q to %.200q", orig, target)
		}
		checkFastPath(t, target)
		if err != nil {
			if !errors.Is(err, ErrBadTarget) {
				t.Fatalf("Normalize(%.200q) error %v does not match ErrBadTarget", target, err)
			}
			return
		}
		checkNormalPath(t, target, path)
		for i := 0; i < len(query); i++ {
			if c := query[i]; c < 0x20 || c == 0x7f || c == '#' {
				t.Fatalf("Normalize(%.200q): query %.200q holds %q", target, query, c)
			}
		}

		// Idempotent: the result is its own normal form.
		again := path
		if bytes.IndexByte(target, '?') >= 0 {
			again += "?" + query
		}
		p2, q2, err := Normalize([]byte(again))
		if err != nil || p2 != path || q2 != query {
			t.Fatalf("Normalize(%.200q) = %.200q, %.200q; normalizing that again gives %.200q, %.200q, %v", target, path, query, p2, q2, err)
		}

		// No hidden separators: one level of percent-decoding, as the
		// upstream does, yields exactly the same segments, none of them a
		// dot segment, and no backslash or control byte.
		dec, err := url.PathUnescape(path)
		if err != nil {
			t.Fatalf("result %.200q of %.200q does not percent-decode: %v", path, target, err)
		}
		segs, decSegs := strings.Split(path, "/"), strings.Split(dec, "/")
		if len(segs) != len(decSegs) {
			t.Fatalf("result %.200q of %.200q decodes to %.200q: %d segments became %d", path, target, dec, len(segs), len(decSegs))
		}
		for i, s := range decSegs {
			if u, _ := url.PathUnescape(segs[i]); u != s {
				t.Fatalf("result %.200q: segment %.200q decodes to %.200q, not %.200q", path, segs[i], u, s)
			}
			if s == "." || s == ".." || isDotSemicolon([]byte(s)) {
				t.Fatalf("result %.200q of %.200q decodes to %.200q with a dot segment", path, target, dec)
			}
		}
		if i := strings.IndexFunc(dec, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }); i >= 0 {
			t.Fatalf("result %.200q of %.200q decodes to %.200q holding %q", path, target, dec, dec[i])
		}
	})
}

// checkNormalPath fails unless path has every property of Normalize's
// result.
func checkNormalPath(t *testing.T, target []byte, path string) {
	t.Helper()
	fail := func(why string) { t.Fatalf("Normalize(%.200q) = %.200q: %s", target, path, why) }
	if !strings.HasPrefix(path, "/") {
		fail("does not start with /")
	}
	if strings.Contains(path, "//") {
		fail("holds //")
	}
	up := strings.ToUpper(path)
	if strings.Contains(up, "%2F") || strings.Contains(up, "%5C") {
		fail("holds an encoded slash or backslash")
	}
	for _, seg := range strings.Split(path, "/") {
		if seg == "." || seg == ".." || isDotSemicolon([]byte(seg)) {
			fail("holds a dot segment")
		}
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch class[c] {
		case classKeep, classSlash:
		case classPercent:
			if i+2 >= len(path) || !isUpperHex(path[i+1]) || !isUpperHex(path[i+2]) {
				fail("holds an invalid or lower-case escape")
			}
			hi, _ := unhex(path[i+1])
			lo, _ := unhex(path[i+2])
			if v := hi<<4 | lo; isUnreserved(v) || v < 0x20 || v == 0x7f || v == 0xc0 || v == 0xc1 {
				fail("holds an escape that should have been decoded or rejected")
			}
			i += 2
		default:
			fail("holds a byte that is not allowed raw: " + string(rune(c)))
		}
	}
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

// refMatch is a slow, obviously correct matcher on segment lists, the
// reference for pattern.match and pattern.covers.
func refMatch(pat, path string) bool {
	segs := func(p string) []string {
		var out []string
		for _, s := range strings.Split(p, "/") {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	ps := segs(path)
	hasPrefix := func(pre []string) bool {
		if len(ps) < len(pre) {
			return false
		}
		for i := range pre {
			if ps[i] != pre[i] {
				return false
			}
		}
		return true
	}
	switch {
	case strings.HasSuffix(pat, "/**"):
		return hasPrefix(segs(pat[:len(pat)-3]))
	case strings.HasSuffix(pat, "/*"):
		pre := segs(pat[:len(pat)-2])
		return len(ps) == len(pre)+1 && hasPrefix(pre)
	}
	pre := segs(pat)
	return len(ps) == len(pre) && hasPrefix(pre)
}

func FuzzMatch(f *testing.F) {
	f.Add("/api/**", "/api/users", []byte("/api/users/"))
	f.Add("/api/*", "/api/x", []byte("/api/x/../y"))
	f.Add("/**", "/*", []byte("/"))
	f.Add("/a", "/a/*", []byte("//a/b"))
	f.Add("/*", "/", []byte("/x/"))
	f.Add("/a/b/**", "/a/**", []byte("/a/b/c/d"))
	f.Fuzz(func(t *testing.T, first, second string, target []byte) {
		rs := []config.Rule{{Path: first, Policy: "public"}, {Path: second, Policy: "deny"}}
		s, probs, err := Compile(rs, "", nil)
		if err != nil {
			return
		}
		path, _, err := Normalize(target)
		if err != nil {
			return
		}
		m0 := s.rules[0].pat.match(trimSlash(path))
		m1 := s.rules[1].pat.match(trimSlash(path))
		if m0 != refMatch(first, path) || m1 != refMatch(second, path) {
			t.Fatalf("path %.200q: patterns %.200q, %.200q match %v, %v; reference says %v, %v",
				path, first, second, m0, m1, refMatch(first, path), refMatch(second, path))
		}
		want := -1
		if m0 {
			want = 0
		} else if m1 {
			want = 1
		}
		if d := s.Match("GET", "h", path); d.Rule != want {
			t.Fatalf("Match(%.200q) with %.200q, %.200q = rule %d, want %d", path, first, second, d.Rule, want)
		}
		for _, p := range probs {
			if p.Path == "rules[1]" && strings.HasPrefix(p.Msg, "unreachable") && m1 && !m0 {
				t.Fatalf("%.200q called unreachable after %.200q, but %.200q matches only the second", second, first, path)
			}
		}
	})
}

func trimSlash(p string) string {
	if len(p) > 1 && p[len(p)-1] == '/' {
		return p[:len(p)-1]
	}
	return p
}
