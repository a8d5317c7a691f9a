package tracing_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"authgate/config"
	"authgate/store"
	"authgate/store/memstore"
	"authgate/tracing"
	"authgate/tracing/tracingtest"
)

func newTracer(t *testing.T, endpoint string) *tracing.Tracer {
	t.Helper()
	tr, err := tracing.New(config.Tracing{Enabled: true, Endpoint: endpoint, SampleRatio: 1, ServiceName: "svc"},
		tracing.Options{BatchTimeout: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr
}

func TestOffIsNil(t *testing.T) {
	tr, err := tracing.New(config.Tracing{Endpoint: "http://x"}, tracing.Options{})
	if tr != nil || err != nil {
		t.Fatalf("disabled: %v, %v; want nil, nil", tr, err)
	}
}

// An endpoint without a path is sent to the standard /v1/traces.
func TestEndpointWithoutPathGetsTheStandardOne(t *testing.T) {
	col := tracingtest.New(t)
	tr := newTracer(t, strings.TrimSuffix(col.URL(), "/v1/traces"))
	_, span := tr.Start(context.Background(), "x")
	span.End()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := col.Spans(); len(s) != 1 || s[0].Name != "x" || s[0].Service != "svc" || len(col.Rejected()) > 0 {
		t.Fatalf("spans %+v, rejected %v", s, col.Rejected())
	}
}

// Store calls make spans only within a trace: the revocation feed and
// seeding, which run outside any request, make none.
func TestStoreSpansOnlyWithinATrace(t *testing.T) {
	col := tracingtest.New(t)
	tr := newTracer(t, col.URL())
	st := tracing.Store(memstore.New(), tr, "memory")
	if _, err := st.GetUser(context.Background(), "nobody"); err == nil {
		t.Fatal("found nobody")
	}
	ctx, span := tr.Start(context.Background(), "request")
	_, err := st.GetUser(ctx, "nobody")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err %v", err)
	}
	span.End()
	_ = tr.ForceFlush(context.Background())
	var names []string
	for _, s := range col.Spans() {
		names = append(names, s.Name)
		if s.Name == "store.GetUser" && (s.Error || s.Attrs["authgate.store.outcome"] == "") {
			t.Errorf("not found is an outcome, not a failure: %+v", s)
		}
	}
	if strings.Join(names, ",") != "store.GetUser,request" {
		t.Errorf("spans %v, want one store span, in the request", names)
	}
}

// The log handler adds trace_id and span_id to lines logged with a traced
// context, and nothing to others.
func TestLogLinesCarryTheTraceID(t *testing.T) {
	col := tracingtest.New(t)
	tr := newTracer(t, col.URL())
	var buf bytes.Buffer
	log := slog.New(tracing.LogHandler(slog.NewTextHandler(&buf, nil))).With("k", "v")
	ctx, span := tr.Start(context.Background(), "request")
	defer span.End()
	log.InfoContext(ctx, "traced")
	log.Info("untraced")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := "trace_id=" + span.SpanContext().TraceID().String() + " span_id=" + span.SpanContext().SpanID().String()
	if len(lines) != 2 || !strings.Contains(lines[0], want) || !strings.Contains(lines[0], "k=v") || strings.Contains(lines[1], "trace_id") {
		t.Fatalf("lines %q, want the first with %s", lines, want)
	}
}

// The hasher's hook makes no trace of its own outside a request (the
// hash-password and users commands).
func TestHookOutsideATraceMakesNoSpan(t *testing.T) {
	col := tracingtest.New(t)
	tr := newTracer(t, col.URL())
	tr.Hook()(context.Background(), "password.hash")()
	_ = tr.ForceFlush(context.Background())
	if s := col.Spans(); len(s) != 0 {
		t.Fatalf("spans %+v", s)
	}
}
