// Package tracing owns authgate's OpenTelemetry traces: the tracer provider
// and its OTLP/HTTP exporter, the W3C Trace Context propagation (who may
// set the trace id of a request, and what the upstream is told), the span
// names and attributes, a tracing decorator for store.Store, and a slog
// handler that writes the trace id into every log line of a traced request.
//
// Tracing is off unless tracing.enabled is set: New then returns a nil
// *Tracer, the gateway checks for nil before any span work, the store is
// not wrapped and the log handler is not installed, so a gateway without
// tracing pays one predictable branch per request and nothing else.
//
// Trust: a request's traceparent and tracestate are continued only when
// the connection's peer is one of trusted_proxies, the same list the
// gateway believes X-Forwarded-* from. Anybody else's are ignored (the
// request starts a new trace) and never reach the upstream: the upstream
// gets authgate's own traceparent, whose parent is the upstream-exchange
// span. A client therefore cannot choose the trace id of its request, nor
// force sampling, nor pass a tracestate through the gateway.
//
// What it refuses: spans never carry a password, a token, a cookie or a
// query string (which may hold an upstream app's tokens); the paths in
// spans are the normalized ones the rules saw.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"authgate/config"
)

// Tracer makes authgate's spans. A nil *Tracer means tracing is off; its
// callers check for nil rather than calling it.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TraceContext
}

// Options are the parts of a Tracer that do not come from the config.
type Options struct {
	// BatchTimeout is how long finished spans wait before they are
	// exported in one batch. Default 5s (the SDK's); tests use less.
	BatchTimeout time.Duration
	// Version is authgate's version, the spans' service.version; "" for
	// none.
	Version string
}

// New returns the Tracer of cfg, or nil when tracing is off. Spans are
// exported in batches from a goroutine: a slow or absent collector never
// holds a request (a full queue drops spans). Call Shutdown before exiting
// to send the last batch.
func New(cfg config.Tracing, o Options) (*Tracer, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	endpoint, err := endpointURL(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	// New does not connect: the exporter dials on its first export.
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", cfg.ServiceName)}
	if o.Version != "" {
		attrs = append(attrs, attribute.String("service.version", o.Version))
	}
	var bopts []sdktrace.BatchSpanProcessorOption
	if o.BatchTimeout > 0 {
		bopts = append(bopts, sdktrace.WithBatchTimeout(o.BatchTimeout))
	}
	p := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, bopts...),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		// A trusted proxy's sampled flag is followed; new traces are
		// sampled by ratio of their (random) trace id.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &Tracer{provider: p, tracer: p.Tracer("authgate")}, nil
}

// endpointURL is the OTLP/HTTP traces URL of endpoint: one without a path
// gets the standard /v1/traces.
func endpointURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("tracing.endpoint: %q is not an http:// or https:// URL", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// LogErrors sends the OpenTelemetry SDK's own errors (a collector that
// cannot be reached, a full queue) to log as warnings instead of the
// standard logger. It sets the process-wide handler of package otel.
func LogErrors(log *slog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing", "err", err.Error())
	}))
}

// ForceFlush exports every finished span now.
func (t *Tracer) ForceFlush(ctx context.Context) error { return t.provider.ForceFlush(ctx) }

// Shutdown exports the finished spans and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }

// headerCarrier reads a client's request head for the propagator.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (c headerCarrier) Get(key string) string {
	// W3C Trace Context: more than one traceparent field is invalid, and
	// the request then starts a new trace (Peek would read the first);
	// several tracestate fields are one list.
	n := 0
	var v []byte
	for k, val := range c.h.All() {
		if len(k) != len(key) || !equalFold(k, key) {
			continue
		}
		if n > 0 {
			v = append(append(v, ','), val...)
		} else {
			v = append(v, val...)
		}
		n++
	}
	if n > 1 && key == "traceparent" {
		return ""
	}
	return string(v)
}

func (headerCarrier) Set(string, string) {}
func (headerCarrier) Keys() []string     { return []string{"traceparent", "tracestate"} }

func equalFold(b []byte, s string) bool {
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Request starts the server span of a request whose head is h and whose
// method is method. The trace of the traceparent in h is continued when
// trusted (the peer is a trusted proxy); otherwise the request starts a
// new trace. End it with EndRequest.
func (t *Tracer) Request(ctx context.Context, h *fasthttp.RequestHeader, trusted bool, method string) (context.Context, trace.Span) {
	if trusted {
		ctx = t.prop.Extract(ctx, headerCarrier{h})
	}
	return t.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", method)))
}

// RequestEnd is what the gateway knows about a request once answered.
type RequestEnd struct {
	Method    string
	Route     string // the gateway's route label: proxy, login, verify, ...
	Path      string // normalized; "" when the target was refused
	Host      string
	Status    int
	RequestID string
	ClientIP  string
	User      string // the subject, when authenticated
}

// EndRequest names the server span after its route ("GET proxy", "POST
// login"), sets its attributes and ends it. A 5xx answer marks it an error.
func EndRequest(span trace.Span, e RequestEnd) {
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetName(e.Method + " " + e.Route)
	attrs := []attribute.KeyValue{
		attribute.String("authgate.route", e.Route),
		attribute.Int("http.response.status_code", e.Status),
		attribute.String("authgate.request_id", e.RequestID),
		attribute.String("client.address", e.ClientIP),
	}
	if e.Path != "" {
		attrs = append(attrs, attribute.String("url.path", e.Path))
	}
	if e.Host != "" {
		attrs = append(attrs, attribute.String("server.address", e.Host))
	}
	if e.User != "" {
		attrs = append(attrs, attribute.String("enduser.id", e.User))
	}
	span.SetAttributes(attrs...)
	if e.Status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// Recording reports whether ctx's span is recorded (sampled): callers skip
// the child spans of a trace that is not.
func Recording(ctx context.Context) bool { return trace.SpanFromContext(ctx).IsRecording() }

// Start starts an internal span named name under ctx's span.
func (t *Tracer) Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, name, trace.WithAttributes(attrs...))
}

// Upstream starts the client span of the exchange with the upstream named
// upstream ("" for the default) and returns the traceparent and tracestate
// to send it: their parent is this span. End it with EndUpstream.
func (t *Tracer) Upstream(ctx context.Context, upstream string) (span trace.Span, traceparent, tracestate string) {
	var c pair
	if !Recording(ctx) {
		// An unsampled trace: the upstream gets its ids (and the unsampled
		// flag) without another span that nobody records.
		t.prop.Inject(ctx, &c)
		return noop.Span{}, c.parent, c.state
	}
	if upstream == "" {
		upstream = "default"
	}
	ctx, span = t.tracer.Start(ctx, "upstream "+upstream, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("authgate.upstream", upstream)))
	t.prop.Inject(ctx, &c)
	return span, c.parent, c.state
}

// pair receives what the propagator injects.
type pair struct{ parent, state string }

func (p *pair) Get(string) string { return "" }
func (p *pair) Set(k, v string) {
	switch k {
	case "traceparent":
		p.parent = v
	case "tracestate":
		p.state = v
	}
}
func (p *pair) Keys() []string { return nil }

// EndUpstream records the upstream's status (0: no response) and err, and
// ends span. A failed exchange or a 5xx is an error.
func EndUpstream(span trace.Span, status int, err error) {
	if status > 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	switch {
	case err != nil:
		span.SetStatus(codes.Error, err.Error())
	case status >= 500:
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// Fail marks span as failed with err (nil: nothing) and ends it.
func Fail(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Hook returns a function that starts a span named name under ctx's span
// (none when ctx is not traced) and returns the function that ends it: the form auth.Hasher takes, so that
// package auth needs no OpenTelemetry import.
func (t *Tracer) Hook() func(ctx context.Context, name string) func() {
	return func(ctx context.Context, name string) func() {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			return func() {} // not a request's (a command, seeding): no trace of its own
		}
		_, span := t.tracer.Start(ctx, name)
		return func() { span.End() }
	}
}
