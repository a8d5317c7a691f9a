package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestLogMailerLogsRecipientSubjectAndLink(t *testing.T) {
	var buf bytes.Buffer
	mailer := NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	msg := renderForTest(t, "ada@example.org")
	if err := mailer.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log line is not one JSON record: %v\n%s", err, buf.String())
	}
	if rec["level"] != "INFO" || rec["to"] != msg.To || rec["subject"] != msg.Subject {
		t.Errorf("record %v lacks level/to/subject", rec)
	}
	text, _ := rec["text"].(string)
	if textLink(text) != testLink {
		t.Errorf("logged text does not carry the link %q:\n%s", testLink, text)
	}
	if _, ok := rec["html"]; ok || strings.Contains(buf.String(), "<html>") {
		t.Errorf("the HTML body was logged:\n%s", buf.String())
	}
}

func TestNewLogWithoutLoggerUsesTheDefault(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	if err := NewLog(nil).Send(context.Background(), Message{To: "a@example.org", Subject: "s", Text: testLink}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !strings.Contains(buf.String(), "to=a@example.org") {
		t.Errorf("default logger did not get the mail:\n%s", buf.String())
	}
}
