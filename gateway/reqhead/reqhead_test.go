package reqhead

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"app.example", "app.example"},
		{"App.Example", "app.example"},
		{"app.example.", "app.example"},
		{"APP.example.:8080", "app.example:8080"},
		{"app.example:0080", "app.example:80"},
		{"a_b-c.example", "a_b-c.example"},
		{"localhost:1", "localhost:1"},
		{"127.0.0.1", "127.0.0.1"},
		{"127.0.0.1:443", "127.0.0.1:443"},
		{"[::1]", "[::1]"},
		{"[::1]:8080", "[::1]:8080"},
		{"[0:0::1]", "[::1]"},
		{"[2001:DB8::1]", "[2001:db8::1]"},
		{"x1", "x1"},
		{"1x.example", "1x.example"},
		{"", ""},
		{"admin.example:80:80", ""},
		{"host%2e", ""},
		{"a b", ""},
		{"[::1", ""},
		{"a/b", ""},
		{"a:", ""},
		{"a:0", ""},
		{"a:65536", ""},
		{"a:+80", ""},
		{":80", ""},
		{"a..b", ""},
		{".a", ""},
		{"a..", ""},
		{"a.example..", ""},
		{"a@b", ""},
		{"a\\b", ""},
		{"a\x00", ""},
		{"a;b", ""},
		{"127.1", ""},
		{"1.2.3.256", ""},
		{"0x7f.0.0.1", ""}, // read as 127.0.0.1 by inet_aton
		{"[::1]x", ""},
		{"[fe80::1%25eth0]", ""},
		{"[1.2.3.4]", ""},
		{"[::ffff:1.2.3.4]", "[::ffff:1.2.3.4]"},
		{"ä.example", ""},
		{strings.Repeat("a", 64) + ".example", ""},
		{strings.Repeat("a", 63) + ".example", strings.Repeat("a", 63) + ".example"},
		{strings.Repeat("a.", 140), ""},
	}
	for _, tc := range tests {
		got, err := Host([]byte(tc.in))
		if tc.want == "" {
			if err == nil || !errors.Is(err, ErrHost) {
				t.Errorf("Host(%q) = %q, %v; want an ErrHost", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Host(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if again, err := Host([]byte(got)); err != nil || again != got {
			t.Errorf("Host(%q) = %q, %v: not idempotent", got, again, err)
		}
	}
}

func TestHostName(t *testing.T) {
	for in, want := range map[string]string{"a:80": "a", "a": "a", "[::1]:80": "[::1]", "[::1]": "[::1]"} {
		if got := HostName(in); got != want {
			t.Errorf("HostName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidMethod(t *testing.T) {
	for m, want := range map[string]bool{"GET": true, "PROPFIND": true, "M-SEARCH": true, "get": true, "": false, "G@T": false, "G T": false, "GET\x00": false, "Ä": false} {
		if ValidMethod([]byte(m)) != want {
			t.Errorf("ValidMethod(%q) = %v", m, !want)
		}
	}
}

func TestFraming(t *testing.T) {
	tests := []struct {
		name, head string
		want       error
	}{
		{"plain", "Host: a\r\nX: 1\r\n\r\n", nil},
		{"bare LF blank line", "Host: a\r\nX: 1\r\n\n", nil},
		{"bare LF lines", "Host: a\nX: 1\n\r\n", nil},
		{"chunked", "Host: a\r\nTransfer-Encoding: chunked\r\n\r\n", nil},
		{"Chunked", "Host: a\r\nTransfer-Encoding:  Chunked \r\n\r\n", nil},
		{"length", "Host: a\r\nContent-Length: 3\r\n\r\n", nil},
		{"obs-fold", "Host: a\r\nX-A: 1\r\n folded\r\n\r\n", ErrObsFold},
		{"obs-fold tab", "Host: a\r\nX-A: 1\r\n\tfolded\r\n\r\n", ErrObsFold},
		{"length and chunked", "Host: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ErrLengthAndTE},
		{"chunked and length", "Host: a\r\nTransfer-Encoding: chunked\r\ncontent-length: 3\r\n\r\n", ErrLengthAndTE},
		{"identity", "Host: a\r\nTransfer-Encoding: identity\r\n\r\n", ErrTransferCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h fasthttp.RequestHeader
			if err := h.Read(bufio.NewReader(strings.NewReader("POST / HTTP/1.1\r\n" + tc.head + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"))); err != nil {
				if tc.want == nil {
					t.Fatalf("fasthttp refused it: %v", err)
				}
				return // refused before Framing: fine too
			}
			if got := Framing(&h); got != tc.want {
				t.Errorf("Framing = %v, want %v (raw %q)", got, tc.want, h.RawHeaders())
			}
		})
	}
}

// FuzzHost: Host never panics, its result is accepted again unchanged, and
// holds only the bytes a normalized host may hold.
func FuzzHost(f *testing.F) {
	for _, s := range []string{"a.example", "A.b.:80", "[::1]:1", "1.2.3.4", "a..", "[", "a:b:c", "%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Host([]byte(s))
		if err != nil {
			return
		}
		h = strings.Clone(h)
		if again, err := Host([]byte(h)); err != nil || again != h {
			t.Fatalf("Host(%q) = %q, then %q, %v", s, h, again, err)
		}
		for i := 0; i < len(h); i++ {
			c := h[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.:[]", c) >= 0) {
				t.Fatalf("Host(%q) = %q holds %q", s, h, c)
			}
		}
	})
}

func BenchmarkAdmitChecks(b *testing.B) {
	var h fasthttp.RequestHeader
	raw := "GET /api/items?page=2 HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: bench/1\r\nAccept: */*\r\n" +
		"Authorization: Bearer " + strings.Repeat("x", 400) + "\r\nCookie: a=1; b=2\r\n\r\n"
	if err := h.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !ValidMethod(h.Method()) {
			b.Fatal("method")
		}
		if _, err := Host(h.Host()); err != nil {
			b.Fatal(err)
		}
		if err := Framing(&h); err != nil {
			b.Fatal(err)
		}
	}
}
