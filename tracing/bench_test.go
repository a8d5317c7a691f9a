package tracing_test

import (
	"context"
	"testing"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"

	"authgate/config"
	"authgate/tracing"
	"authgate/tracing/tracingtest"
)

// BenchmarkRequestSpans is the tracing work of one proxied request on the
// request goroutine: the server span (continuing a trusted traceparent),
// the decision and token-check spans, the upstream span with the
// traceparent it injects, and the ends. Export runs in the background.
func BenchmarkRequestSpans(b *testing.B) {
	for _, bc := range []struct {
		name  string
		ratio float64
		flag  string
	}{{"sampled", 1, "01"}, {"unsampled", 1e-9, "00"}} {
		b.Run(bc.name, func(b *testing.B) {
			col := tracingtest.New(b)
			tr, err := tracing.New(config.Tracing{Enabled: true, Endpoint: col.URL(), SampleRatio: bc.ratio, ServiceName: "bench"}, tracing.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			var h fasthttp.RequestHeader
			h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"+bc.flag)
			b.ReportAllocs()
			for b.Loop() {
				ctx, server := tr.Request(context.Background(), &h, true, "GET")
				if tracing.Recording(ctx) { // as the gateway does
					dctx, decide := tr.Start(ctx, "authgate.decide", attribute.Int("authgate.rule", 2), attribute.String("authgate.policy", "authenticated"))
					_, tc := tr.Start(dctx, "authgate.token_check")
					tc.SetAttributes(attribute.String("authgate.token.result", "valid"))
					tc.End()
					decide.SetAttributes(attribute.String("authgate.outcome", "allow"))
					decide.End()
				}
				up, tp, _ := tr.Upstream(ctx, "")
				if tp == "" {
					b.Fatal("no traceparent")
				}
				tracing.EndUpstream(up, 200, nil)
				tracing.EndRequest(server, tracing.RequestEnd{Method: "GET", Route: "proxy", Path: "/api/x", Host: "app.example",
					Status: 200, RequestID: "abc-1", ClientIP: "192.0.2.1", User: "u1"})
			}
		})
	}
}
