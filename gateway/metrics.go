package gateway

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's Prometheus series.
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	logins      *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	decisions   *prometheus.CounterVec
	overloaded  prometheus.Counter

	// decided are the authgate_decisions_total series, by result.
	decided struct {
		allow, deny, public, unauthenticated, forbidden, untrustedPeer lazyCounter
	}
	// routes maps a route label to its request series; copied on write.
	routes   atomic.Pointer[map[string]*routeSeries]
	routesMu sync.Mutex

	reloadOnce sync.Once
	reload     *reloadMetrics // reload.go
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authgate_http_request_duration_seconds",
			Help:    "Time to answer, by route (for proxied requests: until the upstream's headers).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_logins_total",
			Help: "Login attempts by outcome (success, invalid_credentials, password_change, unverified, locked, rate_limited, overloaded, error).",
		}, []string{"outcome"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_rate_limited_total",
			Help: "Requests refused with 429, by limit.",
		}, []string{"limit"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authgate_decisions_total",
			Help: "Rule decisions for proxied and forward-auth requests, by result.",
		}, []string{"result"}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authgate_overloaded_total",
			Help: "Requests refused with 503 overloaded: every password-hashing slot stayed busy until the request's deadline.",
		}),
	}
	d := &m.decided
	for _, lc := range []struct {
		c     *lazyCounter
		label string
	}{
		{&d.allow, "allow"}, {&d.deny, "deny"}, {&d.public, "public"},
		{&d.unauthenticated, "unauthenticated"}, {&d.forbidden, "forbidden"}, {&d.untrustedPeer, "untrusted_peer"},
	} {
		lc.c.vec, lc.c.label = m.decisions, lc.label
	}
	m.routes.Store(&map[string]*routeSeries{})
	m.registry.MustRegister(m.requests, m.duration, m.logins, m.rateLimited, m.decisions, m.overloaded,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// fastPath registers authgate_fast_path_total, read from counts, once.
func (m *metrics) fastPath(counts func() (served, relayed, handedOver uint64)) {
	for i, outcome := range []string{"served", "relayed", "handed_over"} {
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "authgate_fast_path_total",
			Help:        "Event-loop fast path: requests answered by the loops (served), responses streamed by a relay goroutine (relayed), connections given to the Fiber app (handed_over).",
			ConstLabels: prometheus.Labels{"outcome": outcome},
		}, func() float64 {
			s, r, h := counts()
			return float64([]uint64{s, r, h}[i])
		})
		_ = m.registry.Register(c) // a second Serve keeps the first's series
	}
}

// observe records one answered request.
func (m *metrics) observe(route string, status int, d time.Duration) {
	rs := m.route(route)
	rs.requests(status).Inc()
	rs.duration().Observe(d.Seconds())
}

// lazyCounter is one series of a CounterVec, looked up on first use and
// then kept: the hot path skips the vector's label hashing and lock, and the
// series still appears in /metrics only once it has been counted.
type lazyCounter struct {
	vec   *prometheus.CounterVec
	label string
	once  sync.Once
	c     prometheus.Counter
}

// Inc adds one to the series.
func (l *lazyCounter) Inc() {
	l.once.Do(func() { l.c = l.vec.WithLabelValues(l.label) })
	l.c.Inc()
}

// routeSeries are the request series of one route label, each looked up on
// first use and then kept.
type routeSeries struct {
	m     *metrics
	label string
	once  sync.Once
	dur   prometheus.Observer
	codes [len(statusTexts)]atomic.Pointer[prometheus.Counter]
}

// route returns the series of a route label; the labels are the gateway's
// few route names, so the map stays small.
func (m *metrics) route(label string) *routeSeries {
	if rs, ok := (*m.routes.Load())[label]; ok {
		return rs
	}
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	old := *m.routes.Load()
	if rs, ok := old[label]; ok {
		return rs
	}
	rs := &routeSeries{m: m, label: label}
	next := make(map[string]*routeSeries, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[label] = rs
	m.routes.Store(&next)
	return rs
}

func (rs *routeSeries) duration() prometheus.Observer {
	rs.once.Do(func() { rs.dur = rs.m.duration.WithLabelValues(rs.label) })
	return rs.dur
}

func (rs *routeSeries) requests(status int) prometheus.Counter {
	if status < 0 || status >= len(rs.codes) {
		return rs.m.requests.WithLabelValues(rs.label, statusText(status))
	}
	if c := rs.codes[status].Load(); c != nil {
		return *c
	}
	c := rs.m.requests.WithLabelValues(rs.label, statusTexts[status])
	rs.codes[status].Store(&c) // a racing store holds the same series
	return c
}

var statusTexts = func() (t [600]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusText(code int) string {
	if code >= 0 && code < len(statusTexts) {
		return statusTexts[code]
	}
	return strconv.Itoa(code)
}

// accountMetrics counts package account's outcomes.
type accountMetrics struct{ m *metrics }

func (a accountMetrics) Login(outcome string)     { a.m.logins.WithLabelValues(outcome).Inc() }
func (a accountMetrics) RateLimited(limit string) { a.m.rateLimited.WithLabelValues(limit).Inc() }
