package echo

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEchoReportsWhatReachedTheUpstream(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/api/x%2Fy?a=1", strings.NewReader("hello"))
	req.Header.Set("X-User-Id", "u1")
	req.Header.Add("X-User-Roles", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep Reply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if rep.Method != "POST" || rep.Path != "/api/x/y" || rep.RawPath != "/api/x%2Fy" || rep.Query != "a=1" || rep.BodyBytes != 5 {
		t.Errorf("reply = %+v", rep)
	}
	if got := rep.Headers["X-User-Id"]; len(got) != 1 || got[0] != "u1" {
		t.Errorf("X-User-Id = %v", got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
}
