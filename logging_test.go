package main

import (
	"strings"
	"testing"
	"time"

	"authgate/config"
)

func TestLoggerHoldsRequestLinesButNeverErrors(t *testing.T) {
	var out syncWriter
	var sb strings.Builder
	out.w = &sb
	read := func() string {
		out.mu.Lock()
		defer out.mu.Unlock()
		return sb.String()
	}
	log, closeLog := newLoggerEvery(config.Log{Format: "json", Level: "info"}, &out, time.Hour)
	log.Info("request", "path", "/a")
	if strings.Contains(read(), "/a") {
		t.Fatalf("an info line was written at once: %q", read())
	}
	log.Error("boom")
	if got := read(); !strings.Contains(got, `"msg":"boom"`) || !strings.Contains(got, `"path":"/a"`) {
		t.Fatalf("an error line must flush at once, with what came before it: %q", got)
	}
	log.Info("later")
	closeLog()
	if !strings.Contains(read(), `"msg":"later"`) {
		t.Fatalf("close must flush: %q", read())
	}
}

func TestLoggerFlushesOnItsOwn(t *testing.T) {
	var out syncWriter
	var sb strings.Builder
	out.w = &sb
	log, closeLog := newLogger(config.Log{Level: "info"}, &out)
	defer closeLog()
	log.Info("request", "path", "/b")
	deadline := time.Now().Add(5 * time.Second)
	for {
		out.mu.Lock()
		got := sb.String()
		out.mu.Unlock()
		if strings.Contains(got, "path=/b") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was never flushed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
