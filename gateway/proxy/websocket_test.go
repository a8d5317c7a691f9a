package proxy

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Minimal RFC 6455 framing, enough for an echo server and a raw client.

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// writeFrame writes one final frame; clients mask, servers do not.
func writeFrame(w io.Writer, op byte, payload []byte, mask bool) error {
	var b bytes.Buffer
	b.WriteByte(0x80 | op)
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b.WriteByte(m | byte(n))
	case n <= 0xffff:
		b.WriteByte(m | 126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	default:
		b.WriteByte(m | 127)
		_ = binary.Write(&b, binary.BigEndian, uint64(n))
	}
	if mask {
		key := [4]byte{0x12, 0x34, 0x56, 0x78}
		b.Write(key[:])
		for i, c := range payload {
			b.WriteByte(c ^ key[i%4])
		}
	} else {
		b.Write(payload)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// readFrame reads one frame and unmasks it.
func readFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	op = h[0] & 0x0f
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var l uint16
		err = binary.Read(r, binary.BigEndian, &l)
		n = uint64(l)
	case 127:
		err = binary.Read(r, binary.BigEndian, &n)
	}
	if err != nil {
		return 0, nil, err
	}
	if n > 16<<20 {
		return 0, nil, errors.New("frame too large")
	}
	var key [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(r, key[:]); err != nil {
			return 0, nil, err
		}
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return op, payload, nil
}

// wsUpstream is a WebSocket echo server. It reports the handshake headers it
// saw on seen and signals ended when a tunnel's connection ends. Path
// /refuse answers 403; /one echoes one message and closes.
type wsUpstream struct {
	seen  chan [][2]string
	ended chan struct{}
}

func (u *wsUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var fields [][2]string
	for k, vs := range r.Header {
		for _, v := range vs {
			fields = append(fields, [2]string{k, v})
		}
	}
	fields = append(fields, [2]string{"Host", r.Host})
	u.seen <- fields
	if r.URL.Path == "/refuse" {
		http.Error(w, "no websocket for you", http.StatusForbidden)
		return
	}
	conn, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer func() {
		_ = conn.Close()
		u.ended <- struct{}{}
	}()
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: %s\r\nX-Upstream: yes\r\nKeep-Alive: timeout=5\r\n\r\n", wsAccept(r.Header.Get("Sec-WebSocket-Key")))
	if brw.Flush() != nil {
		return
	}
	for {
		op, payload, err := readFrame(brw.Reader)
		if err != nil {
			return
		}
		if writeFrame(conn, op, payload, false) != nil || op == 8 || r.URL.Path == "/one" {
			return
		}
	}
}

const wsKey = "dGhlIHNhbXBsZSBub25jZQ=="

// wsDial performs a raw handshake through the gateway with extra header
// lines and returns the connection, its reader and the response.
func wsDial(t *testing.T, addr, path string, extra ...string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	lines := append([]string{"GET " + path + " HTTP/1.1", "Host: app.example", "Upgrade: websocket",
		"Connection: Upgrade", "Sec-WebSocket-Key: " + wsKey, "Sec-WebSocket-Version: 13"}, extra...)
	if _, err := io.WriteString(c, crlf(lines...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c, br, resp
}

// within fails the test unless ch delivers within 5 seconds.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not happen within 5s", what)
		panic("unreachable")
	}
}

func TestWebSocketIsTunnelled(t *testing.T) {
	up := &wsUpstream{seen: make(chan [][2]string, 10), ended: make(chan struct{}, 10)}
	p := newProxy(t, Options{URL: startHTTPUpstream(t, up)})
	addr := startGateway(t, p, leadDecision)

	t.Run("handshake gets the same header hygiene as any request", func(t *testing.T) {
		c, _, resp := wsDial(t, addr, "/ws",
			"X-User-Id: evil", "X_User_Id: evil2", "Connection: X-User-Roles", "X-User-Roles: admin",
			"X-Forwarded-For: 6.6.6.6", "Authorization: Bearer tok", "Sec-WebSocket-Protocol: chat")
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d", resp.StatusCode)
		}
		f := within(t, up.seen, "upstream handshake")
		wantValues(t, f, "X-User-Id", "u-123")
		wantValues(t, f, "X-User-Roles", "user")
		wantValues(t, f, "X-Forwarded-For", "203.0.113.9")
		wantValues(t, f, "Authorization")
		wantValues(t, f, "Upgrade", "websocket")
		wantValues(t, f, "Connection", "Upgrade")
		wantValues(t, f, "Sec-WebSocket-Key", wsKey)
		wantValues(t, f, "Sec-WebSocket-Protocol", "chat")
		_ = c.Close()
		within(t, up.ended, "tunnel end")
	})

	t.Run("the 101 answer is relayed without hop-by-hop fields", func(t *testing.T) {
		c, _, resp := wsDial(t, addr, "/ws")
		within(t, up.seen, "upstream handshake")
		if got := resp.Header.Get("Sec-WebSocket-Accept"); got != wsAccept(wsKey) {
			t.Errorf("Sec-WebSocket-Accept %q", got)
		}
		if resp.Header.Get("X-Upstream") != "yes" || resp.Header.Get("Keep-Alive") != "" {
			t.Errorf("headers %v", resp.Header)
		}
		if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "Upgrade") {
			t.Errorf("Upgrade %q Connection %q", resp.Header.Get("Upgrade"), resp.Header.Get("Connection"))
		}
		_ = c.Close()
		within(t, up.ended, "tunnel end")
	})

	t.Run("messages cross both ways and closing the client ends the upstream side", func(t *testing.T) {
		c, br, _ := wsDial(t, addr, "/ws")
		within(t, up.seen, "upstream handshake")
		big := bytes.Repeat([]byte("0123456789abcdef"), 70000/16)
		for _, msg := range [][]byte{[]byte("hello"), big, []byte("bye")} {
			if err := writeFrame(c, 2, msg, true); err != nil {
				t.Fatal(err)
			}
			op, got, err := readFrame(br)
			if err != nil || op != 2 || !bytes.Equal(got, msg) {
				t.Fatalf("echo of %d bytes: op %d, %d bytes, err %v", len(msg), op, len(got), err)
			}
		}
		_ = c.Close()
		within(t, up.ended, "upstream seeing the client go")
	})

	t.Run("the upstream closing ends the client's connection", func(t *testing.T) {
		c, br, _ := wsDial(t, addr, "/one")
		within(t, up.seen, "upstream handshake")
		if err := writeFrame(c, 1, []byte("once"), true); err != nil {
			t.Fatal(err)
		}
		if _, got, err := readFrame(br); err != nil || string(got) != "once" {
			t.Fatalf("echo %q err %v", got, err)
		}
		within(t, up.ended, "upstream end")
		if _, err := br.ReadByte(); err == nil {
			t.Error("client connection still open after the upstream closed")
		}
	})

	t.Run("a refused upgrade is relayed as an ordinary response", func(t *testing.T) {
		c, br, resp := wsDial(t, addr, "/refuse")
		within(t, up.seen, "upstream handshake")
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "no websocket for you") {
			t.Errorf("status %d body %q", resp.StatusCode, body)
		}
		// The client connection still serves HTTP.
		fmt.Fprint(c, crlf("GET /refuse HTTP/1.1", "Host: app.example"))
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("next request on the connection: %v", err)
		}
		within(t, up.seen, "second request")
	})
}

func TestProxyCloseEndsTunnels(t *testing.T) {
	up := &wsUpstream{seen: make(chan [][2]string, 10), ended: make(chan struct{}, 10)}
	p := newProxy(t, Options{URL: startHTTPUpstream(t, up)})
	addr := startGateway(t, p, plainDecision)

	c, br, resp := wsDial(t, addr, "/ws")
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	within(t, up.seen, "upstream handshake")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	within(t, up.ended, "upstream end")
	if _, err := br.ReadByte(); err == nil {
		t.Error("client connection still open after Close")
	}
	_ = c.Close()

	_, _, resp = wsDial(t, addr, "/ws")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("upgrade after Close: status %d, want 502", resp.StatusCode)
	}
}

func TestWebSocketToDeadUpstreamIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	_ = ln.Close()
	p := newProxy(t, Options{URL: url})
	addr := startGateway(t, p, plainDecision)
	_, _, resp := wsDial(t, addr, "/ws")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
}
