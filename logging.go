package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"authgate/config"
)

// logBuffer batches log lines: one write(2) per request line costs about a
// tenth of the gateway's CPU under load. Lines are flushed every interval,
// when the buffer fills, at once for warnings and errors, and on Close; a
// kill -9 can lose at most one interval of request lines.
type logBuffer struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newLogBuffer(w io.Writer, size int, interval time.Duration) *logBuffer {
	b := &logBuffer{w: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.Flush()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

// Write takes one whole line (slog handlers write a record at once).
func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

// Flush writes out what is buffered.
func (b *logBuffer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	_ = b.w.Flush()
}

// Close stops the flusher and flushes the rest.
func (b *logBuffer) Close() {
	close(b.stop)
	<-b.done
	b.Flush()
}

// flushingHandler flushes the buffer right after records at or above
// level, so that warnings and errors are never held back.
type flushingHandler struct {
	slog.Handler
	buf   *logBuffer
	level slog.Level
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= h.level {
		h.buf.Flush()
	}
	return err
}

func (h flushingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(as), h.buf, h.level}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.buf, h.level}
}

// newLogger builds the structured logger of config log on w, buffered;
// call the returned function before exiting.
func newLogger(c config.Log, w io.Writer) (*slog.Logger, func()) {
	return newLoggerEvery(c, w, 100*time.Millisecond)
}

func newLoggerEvery(c config.Log, w io.Writer, interval time.Duration) (*slog.Logger, func()) {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	buf := newLogBuffer(w, 64<<10, interval)
	var h slog.Handler
	if c.Format == "json" {
		h = slog.NewJSONHandler(buf, opts)
	} else {
		h = slog.NewTextHandler(buf, opts)
	}
	return slog.New(flushingHandler{Handler: h, buf: buf, level: slog.LevelWarn}), buf.Close
}
