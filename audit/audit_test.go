package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNilLoggerWritesNothing(t *testing.T) {
	var l *Logger
	l.Log(context.Background(), Event{Event: SignIn}) // no panic
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l, err := Open("off", nil, nil, nil); l != nil || err != nil {
		t.Fatalf("off: %v %v", l, err)
	}
}

func TestLineCarriesTheRequestAndLeavesOutEmptyFields(t *testing.T) {
	var b bytes.Buffer
	l := New(&b, nil)
	ctx := WithRequest(context.Background(), Request{ClientIP: "192.0.2.7", UserAgent: strings.Repeat("u", 600), RequestID: "r-1"})
	l.Log(ctx, Event{Event: SignIn, User: "u1", Outcome: Failure, Reason: "invalid_credentials"})
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || !strings.HasSuffix(b.String(), "}\n") {
		t.Fatalf("%q: %v", b.String(), err)
	}
	if m["client_ip"] != "192.0.2.7" || m["request_id"] != "r-1" || len(m["user_agent"].(string)) != 512 || m["time"] == nil {
		t.Errorf("request fields: %v", m)
	}
	for _, absent := range []string{"actor", "changes", "session", "username"} {
		if _, ok := m[absent]; ok {
			t.Errorf("empty %s written: %s", absent, b.String())
		}
	}
}

func TestFileIsAppendedWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for i := 0; i < 2; i++ {
		l, err := Open(path, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.Log(context.Background(), Event{Event: SignOut, Outcome: Success})
		l.Close()
	}
	b, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if strings.Count(string(b), "\n") != 2 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%q mode %v", b, fi.Mode())
	}
}
