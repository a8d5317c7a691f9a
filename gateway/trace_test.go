package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"authgate/config"
	"authgate/tracing"
	"authgate/tracing/tracingtest"
)

// tracedEnv is a gateway with tracing on, exporting to an in-test OTLP/HTTP
// receiver, and logging JSON lines through the trace-id log handler.
type tracedEnv struct {
	*testEnv
	col  *tracingtest.Collector
	tr   *tracing.Tracer
	logs *syncBuffer
}

// newTracedEnv starts one; trusted makes the loopback peer of e.raw a
// trusted proxy.
func newTracedEnv(t *testing.T, trusted bool) *tracedEnv {
	t.Helper()
	return newSampledEnv(t, trusted, 1)
}

// newSampledEnv is newTracedEnv sampling ratio of the new traces.
func newSampledEnv(t *testing.T, trusted bool, ratio float64) *tracedEnv {
	t.Helper()
	col := tracingtest.New(t)
	tr, err := tracing.New(config.Tracing{Enabled: true, Endpoint: col.URL(), SampleRatio: ratio, ServiceName: "authgate-test"},
		tracing.Options{BatchTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	logs := &syncBuffer{}
	e := newEnv(t, func(y string) string {
		if trusted {
			y = strings.Replace(y, `trusted_proxies: ["10.0.0.0/8"]`, `trusted_proxies: ["10.0.0.0/8", "127.0.0.1/32"]`, 1)
		}
		return y
	}, func(o *Options) {
		o.Tracer = tr
		o.Logger = slog.New(tracing.LogHandler(slog.NewJSONHandler(logs, nil)))
	})
	return &tracedEnv{testEnv: e, col: col, tr: tr, logs: logs}
}

// serverSpan flushes the spans and returns the server span of the request
// whose X-Request-Id is id, with the rest of its trace.
func (e *tracedEnv) serverSpan(t *testing.T, id string) (tracingtest.Span, []tracingtest.Span) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := e.tr.ForceFlush(context.Background()); err != nil {
			t.Fatalf("flush: %v", err)
		}
		for _, s := range e.col.Spans() {
			if s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.Attrs["authgate.request_id"] == id {
				return s, e.col.Trace(s.TraceID)
			}
		}
		if bad := e.col.Rejected(); len(bad) > 0 {
			t.Fatalf("the receiver refused exports: %v", bad)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server span with request id %s among %d spans", id, len(e.col.Spans()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// child returns the span named name whose parent is parent.
func child(t *testing.T, spans []tracingtest.Span, parent tracingtest.Span, name string) tracingtest.Span {
	t.Helper()
	for _, s := range spans {
		if s.Name == name && s.ParentID == parent.SpanID {
			return s
		}
	}
	var names []string
	for _, s := range spans {
		names = append(names, s.Name+"<-"+s.ParentID)
	}
	t.Fatalf("no span %q under %q (%s); the trace has %v", name, parent.Name, parent.SpanID, names)
	return tracingtest.Span{}
}

// logLine returns the JSON log line with msg whose id (or request id) is id.
func logLine(t *testing.T, logs, msg, id string) map[string]any {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg && m["id"] == id {
			return m
		}
	}
	t.Fatalf("no log line %q with id %s in:\n%s", msg, id, logs)
	return nil
}

const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
)

// A proxied request's trace, as a collector receives it: the server span,
// the decision with the token check under it, and the upstream exchange,
// whose span is the parent the upstream is told in its traceparent. A
// trusted proxy's traceparent is continued (and its tracestate passed on);
// an untrusted client's is not: the trace id is authgate's, and neither of
// its fields reaches the upstream. The request's log line carries the
// trace id.
func TestTraceOfAProxiedRequest(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		name := map[bool]string{true: "trusted proxy continues its trace", false: "untrusted client starts a new one"}[trusted]
		t.Run(name, func(t *testing.T) {
			e := newTracedEnv(t, trusted)
			e.addUser("alice", "correct horse battery", "user")
			access, _ := e.login("alice", "correct horse battery")
			r := e.raw("GET /api/orders?secret=q HTTP/1.1", "Authorization", "Bearer "+access,
				"traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-01", "tracestate", "vendor=abc")
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			got := echoed(t, r)
			id := r.header.Get("X-Request-Id")
			server, spans := e.serverSpan(t, id)

			if trusted && (server.TraceID != clientTraceID || server.ParentID != clientSpanID) {
				t.Errorf("trusted: server span in trace %s under %s, want trace %s under %s", server.TraceID, server.ParentID, clientTraceID, clientSpanID)
			}
			if !trusted && (server.TraceID == clientTraceID || server.ParentID != "") {
				t.Errorf("untrusted: server span in trace %s under %q, want a new root", server.TraceID, server.ParentID)
			}
			if server.Name != "GET proxy" || server.Attrs["http.response.status_code"] != "200" ||
				server.Attrs["url.path"] != "/api/orders" || server.Attrs["enduser.id"] == "" || server.Service != "authgate-test" {
				t.Errorf("server span %+v", server)
			}
			for k, v := range server.Attrs {
				if strings.Contains(v, "secret=q") || strings.Contains(v, access) {
					t.Errorf("server span attribute %s holds the query or the token: %q", k, v)
				}
			}
			decide := child(t, spans, server, "authgate.decide")
			if decide.Attrs["authgate.outcome"] != "allow" || decide.Attrs["authgate.policy"] != "authenticated" {
				t.Errorf("decision span %+v", decide.Attrs)
			}
			if tc := child(t, spans, decide, "authgate.token_check"); tc.Attrs["authgate.token.result"] != "valid" {
				t.Errorf("token check span %+v", tc.Attrs)
			}
			up := child(t, spans, server, "upstream default")
			if up.Kind != tracepb.Span_SPAN_KIND_CLIENT || up.Attrs["http.response.status_code"] != "200" || up.Error {
				t.Errorf("upstream span %+v", up)
			}

			tp := got.Headers["Traceparent"]
			if len(tp) != 1 || tp[0] != "00-"+server.TraceID+"-"+up.SpanID+"-01" {
				t.Errorf("upstream got traceparent %q, want 00-%s-%s-01 (this trace, under the exchange span)", tp, server.TraceID, up.SpanID)
			}
			ts := got.Headers["Tracestate"]
			if trusted && (len(ts) != 1 || ts[0] != "vendor=abc") {
				t.Errorf("trusted: upstream got tracestate %q, want the proxy's vendor=abc", ts)
			}
			if !trusted && len(ts) != 0 {
				t.Errorf("untrusted: upstream got the client's tracestate %q", ts)
			}

			line := logLine(t, e.logs.String(), "request", id)
			if line["trace_id"] != server.TraceID || line["span_id"] != server.SpanID {
				t.Errorf("log line %v: want trace_id %s, span_id %s", line, server.TraceID, server.SpanID)
			}
		})
	}
}

// A client cannot pick its trace in any letter case, or by sending two
// traceparent fields: the upstream sees one traceparent, authgate's.
// (Trace-Parent or trace_parent are other fields, which no tracer reads.)
func TestUntrustedTraceFieldsNeverReachTheUpstream(t *testing.T) {
	e := newTracedEnv(t, false)
	r := e.raw("GET /public/x HTTP/1.1",
		"TraceParent", "00-"+clientTraceID+"-"+clientSpanID+"-01",
		"traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-01",
		"TRACEPARENT", "00-"+clientTraceID+"-"+clientSpanID+"-00",
		"TraceState", "a=b", "tracestate", "a=b")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	got := echoed(t, r)
	for k, vs := range got.Headers {
		for _, v := range vs {
			if strings.Contains(v, clientTraceID) || v == "a=b" {
				t.Errorf("upstream got the client's %s: %q", k, v)
			}
		}
	}
	if tp := got.Headers["Traceparent"]; len(tp) != 1 {
		t.Errorf("upstream got traceparent %q, want exactly authgate's", tp)
	}
}

// A trusted proxy that sends two traceparent fields sent an invalid one
// (W3C Trace Context): the request starts a new trace.
func TestTwoTraceparentsStartANewTrace(t *testing.T) {
	e := newTracedEnv(t, true)
	r := e.raw("GET /public/x HTTP/1.1",
		"traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-01",
		"traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-01")
	server, _ := e.serverSpan(t, r.header.Get("X-Request-Id"))
	if server.TraceID == clientTraceID || server.ParentID != "" {
		t.Errorf("server span in trace %s under %q, want a new root", server.TraceID, server.ParentID)
	}
}

// An unsampled request records no span, but the upstream still gets
// authgate's traceparent (unsampled flag), never an untrusted client's; a
// trusted proxy's unsampled trace is continued unsampled.
func TestUnsampledRequestsStillPropagate(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		e := newSampledEnv(t, trusted, 1e-12)
		r := e.raw("GET /public/x HTTP/1.1", "traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-00")
		tp := echoed(t, r).Headers["Traceparent"]
		if len(tp) != 1 || !strings.HasPrefix(tp[0], "00-") || !strings.HasSuffix(tp[0], "-00") ||
			strings.Contains(tp[0], clientSpanID) || strings.Contains(tp[0], clientTraceID) != trusted {
			t.Errorf("trusted %v: upstream got traceparent %q", trusted, tp)
		}
		_ = e.tr.ForceFlush(context.Background())
		if s := e.col.Spans(); len(s) != 0 {
			t.Errorf("trusted %v: %d spans exported for an unsampled request: %+v", trusted, len(s), s)
		}
	}
}

// A sign-in's trace: the server span of the login route, and under it the
// store calls and the password verification.
func TestTraceOfALogin(t *testing.T) {
	e := newTracedEnv(t, false)
	e.addUser("alice", "correct horse battery", "user")
	r := e.do("POST", "/auth", `{"username":"alice","password":"correct horse battery"}`)
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	id := r.header.Get("X-Request-Id")
	server, spans := e.serverSpan(t, id)
	if server.Name != "POST login" || server.Attrs["authgate.route"] != "login" {
		t.Errorf("server span %+v", server)
	}
	get := child(t, spans, server, "store.GetUserByUsername")
	if get.Attrs["db.system.name"] != "memory" || get.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("store span %+v", get)
	}
	child(t, spans, server, "password.verify")
	child(t, spans, server, "store.CreateSession")
	for _, s := range spans {
		for k, v := range s.Attrs {
			if strings.Contains(v, "correct horse") {
				t.Errorf("span %s attribute %s holds the password", s.Name, k)
			}
		}
	}
	logLine(t, e.logs.String(), "request", id)
	if line := logLine(t, e.logs.String(), "request", id); line["trace_id"] != server.TraceID {
		t.Errorf("login log line %v: want trace_id %s", line, server.TraceID)
	}

	// A line the account service logs while it serves the request carries
	// the request's trace id too.
	r = e.do("POST", "/auth?role=admin", `{"username":"alice","password":"correct horse battery"}`)
	if r.status != 401 {
		t.Fatalf("role-scoped login: %d %s", r.status, r.body)
	}
	scoped, _ := e.serverSpan(t, r.header.Get("X-Request-Id"))
	found := false
	for _, l := range strings.Split(e.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "sign-in refused: role scope" {
			found = m["trace_id"] == scoped.TraceID
		}
	}
	if !found {
		t.Errorf("the account service's log line has not the trace id %s:\n%s", scoped.TraceID, e.logs.String())
	}

	// A wrong password for an unknown user costs a verification too, and
	// the trace does not tell it apart.
	r = e.do("POST", "/auth", `{"username":"nobody","password":"wrong password here"}`)
	_, spans = e.serverSpan(t, r.header.Get("X-Request-Id"))
	n := 0
	for _, s := range spans {
		if s.Name == "password.verify" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("unknown user: %d password.verify spans, want 1", n)
	}
}

// A request refused before its body is read (Expect: 100-continue) is
// traced too: its server span and its log line.
func TestTraceOfARequestRefusedAtExpect(t *testing.T) {
	e := newTracedEnv(t, false)
	r := e.raw("POST /api/upload HTTP/1.1", "Expect", "100-continue", "Content-Length", "5")
	if r.status != 401 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	id := r.header.Get("X-Request-Id")
	server, _ := e.serverSpan(t, id)
	if server.Name != "POST proxy" || server.Attrs["http.response.status_code"] != "401" {
		t.Errorf("server span %+v", server)
	}
	if line := logLine(t, e.logs.String(), "request", id); line["trace_id"] != server.TraceID {
		t.Errorf("log line %v: want trace_id %s", line, server.TraceID)
	}
}

// Forward-auth requests are traced too, continuing the trusted proxy's
// trace (nginx's auth_request subrequest carries its traceparent).
func TestTraceOfAForwardAuthRequest(t *testing.T) {
	e := newTracedEnv(t, true)
	r := e.raw("GET /auth/verify HTTP/1.1", "X-Original-Method", "GET", "X-Original-URI", "/public/page",
		"traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-01")
	if r.status != 200 {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	server, spans := e.serverSpan(t, r.header.Get("X-Request-Id"))
	if server.TraceID != clientTraceID || server.Name != "GET verify" {
		t.Errorf("server span %+v", server)
	}
	if d := child(t, spans, server, "authgate.decide"); d.Attrs["authgate.outcome"] != "public" {
		t.Errorf("decision %+v", d.Attrs)
	}
}

// With tracing off, nothing about traces changes what the upstream gets:
// a client's traceparent and tracestate pass as they did before tracing
// existed (another tracer in front of authgate may rely on them).
func TestTracingOffPassesTraceFieldsUnchanged(t *testing.T) {
	e := newEnv(t, nil)
	tp := "00-" + clientTraceID + "-" + clientSpanID + "-01"
	got := echoed(t, e.do("GET", "/public/x", "", "traceparent", tp, "tracestate", "vendor=abc"))
	if v := got.Headers["Traceparent"]; len(v) != 1 || v[0] != tp {
		t.Errorf("traceparent %q, want the client's %q", v, tp)
	}
	if v := got.Headers["Tracestate"]; len(v) != 1 || v[0] != "vendor=abc" {
		t.Errorf("tracestate %q", v)
	}
}

// With tracing on, the fast path's loops are not started: every request is
// served (and traced) by the Fiber app.
func TestTracingTurnsTheFastPathOff(t *testing.T) {
	e := newTracedEnv(t, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fast, err := e.g.fastPath(ln)
	if err != nil || fast != nil {
		t.Fatalf("fast path %v, %v: want none with tracing on", fast, err)
	}
}
