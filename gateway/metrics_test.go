package gateway

import (
	"maps"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// series returns the series of the metric family name in m's registry, by
// their label values joined with "/", and the counter value or histogram
// sample count of each.
func series(t *testing.T, m *metrics, name string) map[string]float64 {
	t.Helper()
	mfs, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			key := ""
			for i, l := range s.GetLabel() {
				if i > 0 {
					key += "/"
				}
				key += l.GetValue()
			}
			out[key] = value(s)
		}
	}
	return out
}

func value(s *dto.Metric) float64 {
	if h := s.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return s.GetCounter().GetValue()
}

// The request and decision series are resolved once and kept (metrics.go);
// what /metrics shows must not change: every request counted once under its
// route and code, from any number of goroutines, and a series present only
// once something was counted in it.
func TestMetricsCountEveryRequestOnceUnderItsRouteAndCode(t *testing.T) {
	m := newMetrics()
	for _, name := range []string{"authgate_http_requests_total", "authgate_http_request_duration_seconds", "authgate_decisions_total"} {
		if got := series(t, m, name); len(got) != 0 {
			t.Fatalf("%s has series %v before any request, want none", name, got)
		}
	}
	routes := []string{"proxy", "login", "invalid", "me"}
	codes := []int{200, 401, 502, 999, -1}
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				m.observe(routes[i%len(routes)], codes[i%len(codes)], time.Millisecond)
				m.decided.allow.Inc()
				if i%2 == 0 {
					m.decided.untrustedPeer.Inc()
				}
			}
		}()
	}
	wg.Wait()

	// i%4 and i%5 visit every (route, code) pair equally: 20 series of
	// workers*each/20 requests each.
	want := map[string]float64{}
	for _, r := range routes {
		for _, c := range codes {
			want[statusText(c)+"/"+r] = workers * each / 20
		}
	}
	if got := series(t, m, "authgate_http_requests_total"); !maps.Equal(got, want) {
		t.Errorf("requests by code/route:\n got %v\nwant %v", got, want)
	}
	wantDur := map[string]float64{}
	for _, r := range routes {
		wantDur[r] = workers * each / 4
	}
	if got := series(t, m, "authgate_http_request_duration_seconds"); !maps.Equal(got, wantDur) {
		t.Errorf("duration samples by route:\n got %v\nwant %v", got, wantDur)
	}
	wantDec := map[string]float64{"allow": workers * each, "untrusted_peer": workers * each / 2}
	if got := series(t, m, "authgate_decisions_total"); !maps.Equal(got, wantDec) {
		t.Errorf("decisions by result:\n got %v\nwant %v", got, wantDec)
	}
}
