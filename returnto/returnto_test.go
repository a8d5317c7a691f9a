package returnto

import (
	"net/url"
	"strings"
	"testing"
)

func policy(t testing.TB) *Policy {
	p, err := New([]string{"app.example.com", "*.example.org", "localhost:8443"}, "/home")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	p := policy(t)
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{"/", true},
		{"/api/x?y=1&z=%2F#frag", true},
		{"/a/b%20c", true},
		{"https://app.example.com/x", true},
		{"HTTPS://app.example.com/x", true},
		{"http://app.example.com", true},
		{"https://wiki.example.org/x", true},
		{"https://a.b.example.org/", true},
		{"https://localhost:8443/", true},
		// refused
		{"", false},
		{"//evil.com", false},
		{"//evil.com/x", false},
		{"/\\evil.com", false},
		{"\\\\evil.com", false},
		{"\\/evil.com", false},
		{"https:evil.com", false},
		{"https:/evil.com", false},
		{"https:///evil.com", false},
		{"javascript:alert(1)", false},
		{"JaVaScRiPt:alert(1)", false},
		{"data:text/html,x", false},
		{"https://evil.com", false},
		{"https://example.org/", false}, // the wildcard is for subdomains only
		{"https://evilexample.org/", false},
		{"https://app.example.com@evil.com/", false},
		{"https://evil.com@app.example.com/", false},
		{"https://user:pw@app.example.com/", false},
		{"https://app.example.com:444/", true}, // a pattern without a port allows any port
		{"https://localhost:8444/", false},
		{"https://localhost/", false},
		{"https://app.example.com.evil.com/", false},
		{"https://app.example.com%2eevil.com/", false},
		{"https://[::1]/", false},
		{"/%2f%2fevil.com", false},
		{"/%2F/evil.com", false},
		{"/%5cevil.com", false},
		{"/%255c%255cevil.com", false},
		{"/%25252f%25252fevil.com", false},
		{"/%09/evil.com", false},
		{"/\t/evil.com", false},
		{"/\r\nLocation: x", false},
		{"/%0d%0aSet-Cookie:x", false},
		{"/x\x00", false},
		{" /x", false},
		{"/é", false},
		{"x/y", false},
		{"?x", false},
		{"#x", false},
		{"/%zz", false},
		{"/\"><script>", false},
		{"/" + strings.Repeat("a", MaxLen), false},
	} {
		got, ok := p.Check(tc.raw)
		if ok != tc.ok || (ok && got != tc.raw) {
			t.Errorf("Check(%q) = %q, %v; want ok=%v", tc.raw, got, ok, tc.ok)
		}
		want := "/home"
		if tc.ok {
			want = tc.raw
		}
		if r := p.Resolve(tc.raw); r != want {
			t.Errorf("Resolve(%q) = %q, want %q", tc.raw, r, want)
		}
	}
}

func TestNewRefusesBadPatternsAndDefaults(t *testing.T) {
	for _, tc := range []struct {
		hosts []string
		def   string
	}{
		{[]string{"*.*.example.com"}, "/"},
		{[]string{"ex ample.com"}, "/"},
		{[]string{"example.com:"}, "/"},
		{nil, "//evil.com"},
		{nil, "https://evil.com/"},
	} {
		if _, err := New(tc.hosts, tc.def); err == nil {
			t.Errorf("New(%q, %q) accepted", tc.hosts, tc.def)
		}
	}
}

// FuzzCheck: whatever Check accepts, a browser resolving it against this
// site lands on this site or on an allow-listed host, over http(s), with no
// byte that could split a header; and every percent-decoded form of it is
// as harmless.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"/", "/a?b=c", "//evil", "/\\evil", "\\\\evil", "https:evil", "javascript:x",
		"https://app.example.com/x", "https://a@app.example.com", "/%2f%2fevil", "https://wiki.example.org", "/%5c"} {
		f.Add(s)
	}
	p := policy(f)
	base, _ := url.Parse("https://self.invalid/some/page")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := p.Check(s)
		if !ok {
			if p.Resolve(s) != "/home" {
				t.Fatalf("refused %q does not fall back", s)
			}
			return
		}
		if got != s {
			t.Fatalf("Check changed %q to %q", s, got)
		}
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '\\' {
				t.Fatalf("accepted %q with byte %#x", s, s[i])
			}
		}
		// WHATWG URL parsing treats \ like / for special schemes; net/url
		// does not, which is why backslashes are refused above.
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("accepted %q that net/url cannot parse: %v", s, err)
		}
		r := base.ResolveReference(u)
		if r.User != nil || (r.Scheme != "https" && r.Scheme != "http") {
			t.Fatalf("accepted %q resolves to %s", s, r)
		}
		if r.Host != "self.invalid" && !p.AllowsHost(r.Host) {
			t.Fatalf("accepted %q leaves the site for %q", s, r.Host)
		}
		d := s
		for range 5 {
			n, err := url.PathUnescape(d)
			if err != nil || n == d {
				break
			}
			d = n
			if strings.HasPrefix(d, "//") || strings.ContainsAny(d, "\\\r\n\t") {
				t.Fatalf("accepted %q decodes to %q", s, d)
			}
		}
	})
}
