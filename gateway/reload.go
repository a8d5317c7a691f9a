package gateway

import (
	"reflect"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"authgate/config"
	"authgate/gateway/fastpath"
)

// Reloading the config (SIGHUP): a new generation of the gateway is built
// from the new config, whole and immutable, and then made current with one
// atomic store. A request is served by the generation current when it
// starts (the Fiber app's handler and the fast path's Route load root.cur
// once), so it finishes under the config it started with, and every
// request is decided by exactly one config. Listeners, connections, the
// Fiber apps, the fast path's loops, the store, the revocation set with its
// lease, and the metrics belong to the first generation (root) and stay.

// fixedSettings cannot change while the process runs: they shape the
// listeners, the Fiber apps, the store connection or the process itself.
// A reload keeps their running values and names each one that differs.
var fixedSettings = []string{"listen", "admin_listen", "tls", "data_dir", "log", "audit", "reload", "tracing", "server", "store", "passwords", "routes"}

type reloadState struct {
	ok  bool
	at  time.Time
	err string
}

type reloadMetrics struct {
	total *prometheus.CounterVec
	last  prometheus.Gauge
}

// Reload makes a new generation built from cfg (loaded and validated in
// full by config.Load) current. The settings that cannot change live keep
// their running values; their YAML names are returned. o are the parts of
// the new generation not in the config (its mailer, built from cfg.Mail).
// On error nothing changes and the failure is recorded (ReloadFailed).
func (g *Gateway) Reload(cfg *config.Config, o Options) (kept []string, err error) {
	root := g.root
	cur := root.cur.Load()
	kept = pinFixed(cur.cfg, cfg)
	o.previous = cur
	if o.Logger == nil {
		o.Logger = cur.log
	}
	if o.Now == nil {
		o.Now = cur.now
	}
	n, err := New(cfg, cur.st, o)
	if err != nil {
		root.ReloadFailed(err)
		return kept, err
	}
	n.fastUps = reusableFastUpstreams(root, n)
	root.cur.Store(n)
	root.recordReload(nil)
	return kept, nil
}

// ReloadFailed records a reload that did not happen (the new config is
// invalid): the metric and /readyz say so until the next good reload.
func (g *Gateway) ReloadFailed(err error) { g.root.recordReload(err) }

func (root *Gateway) recordReload(err error) {
	st := &reloadState{ok: err == nil, at: root.now()}
	result := "success"
	if err != nil {
		st.err, result = err.Error(), "failure"
	}
	root.reload.Store(st)
	m := root.reloadMetrics()
	m.total.WithLabelValues(result).Inc()
	if err == nil {
		m.last.Set(1)
	} else {
		m.last.Set(0)
	}
}

// reloadMetrics registers the reload series on first use, so that they
// appear once a reload was tried.
func (root *Gateway) reloadMetrics() *reloadMetrics {
	root.metrics.reloadOnce.Do(func() {
		root.metrics.reload = &reloadMetrics{
			total: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "authgate_config_reloads_total",
				Help: "Config reloads by result (success, failure).",
			}, []string{"result"}),
			last: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "authgate_config_last_reload_successful",
				Help: "1 if the last config reload succeeded, 0 if it failed (the previous config still serves).",
			}),
		}
		root.metrics.registry.MustRegister(root.metrics.reload.total, root.metrics.reload.last)
	})
	return root.metrics.reload
}

// reloadDetail is /readyz's account of the last reload, nil before any.
func (g *Gateway) reloadDetail() fiber.Map {
	st := g.root.reload.Load()
	if st == nil {
		return nil
	}
	d := fiber.Map{"last_reload": "success", "at": st.at.UTC().Format(time.RFC3339)}
	if !st.ok {
		d["last_reload"], d["error"] = "failure", st.err
	}
	return d
}

// pinFixed copies the fixed settings of old into cfg and names those that
// differed.
func pinFixed(old, cfg *config.Config) []string {
	var kept []string
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(cfg).Elem()
	t := nv.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("yaml")
		if name == "" || !isFixed(name) {
			continue
		}
		if !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			kept = append(kept, name)
			nv.Field(i).Set(ov.Field(i))
		}
	}
	return kept
}

func isFixed(name string) bool {
	for _, f := range fixedSettings {
		if f == name {
			return true
		}
	}
	return false
}

// reusableFastUpstreams are the fast path's upstreams (made for root's
// config) that n may route to: those whose name still means the same
// upstream with the same client settings. An upstream that is new or
// changed is proxied by the Fiber app, with n's own client.
func reusableFastUpstreams(root, n *Gateway) map[string]*fastpath.Upstream {
	if root.fastUps == nil {
		return nil
	}
	ro, no := root.cfg.Upstreams, n.cfg.Upstreams
	if ro.DialTimeout != no.DialTimeout || ro.ResponseTimeout != no.ResponseTimeout || ro.MaxConnsPerHost != no.MaxConnsPerHost {
		return map[string]*fastpath.Upstream{}
	}
	url := func(u config.Upstreams, name string) string {
		if name == "" {
			return u.Default
		}
		return u.Named[name]
	}
	out := make(map[string]*fastpath.Upstream, len(root.fastUps))
	for name, up := range root.fastUps {
		if u := url(no, name); u != "" && u == url(ro, name) {
			out[name] = up
		}
	}
	return out
}
