package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

func validateStore(v *problemList, c *Config) {
	s := &c.Store
	oneOf(v, "store.type", s.Type, "embedded", "redis", "memory")
	r := &s.Redis
	configured := r.URL != "" || len(r.Sentinel.Addrs) > 0 || len(r.ClusterAddrs) > 0
	switch s.Type {
	case "memory":
		v.warn("store.type", "memory keeps nothing across restarts and is not shared: for tests only")
	case "embedded":
		if s.Path == "" {
			v.add("store.path", "required for the embedded store")
		}
	}
	if s.Type != "redis" {
		if configured {
			v.warn("store.redis", "ignored unless store.type is redis")
		}
		return
	}
	if len(c.Tokens.Keys) == 0 {
		v.warn("tokens.keys", "none configured: each instance sharing this Redis generates its own key in its data_dir and refuses the others' tokens; configure keys (or share data_dir/keys)")
	}
	n := 0
	for _, set := range []bool{r.URL != "", len(r.Sentinel.Addrs) > 0, len(r.ClusterAddrs) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		v.add("store.redis", "set exactly one of url, sentinel.addrs, cluster_addrs")
	}
	if r.URL != "" {
		checkRedisURL(v, "store.redis.url", r.URL)
	}
	if len(r.Sentinel.Addrs) > 0 && r.Sentinel.Master == "" {
		v.add("store.redis.sentinel.master", "required with sentinel.addrs")
	}
	for i, a := range r.Sentinel.Addrs {
		checkDialAddr(v, indexPath("store.redis.sentinel.addrs", i), a)
	}
	for i, a := range r.ClusterAddrs {
		checkDialAddr(v, indexPath("store.redis.cluster_addrs", i), a)
	}
	if r.DB < 0 {
		v.add("store.redis.db", "must not be negative")
	} else if r.DB != 0 && len(r.ClusterAddrs) > 0 {
		v.add("store.redis.db", "Redis Cluster has only database 0")
	}
	positive(v, "store.redis.timeout", r.Timeout)
}

// checkRedisURL refuses what redis.ParseURL accepts but cannot mean what
// the operator wrote: a redis:// or rediss:// URL without a host (go-redis
// then silently connects to localhost:6379, another Redis than intended),
// or with a bad port, and a unix:// URL without a socket path.
func checkRedisURL(v *problemList, path, raw string) {
	if _, err := redis.ParseURL(raw); err != nil {
		v.add(path, "invalid Redis URL: "+redisURLError(err))
		return
	}
	const want = "use redis://[user:password@]host:port/db, rediss:// for TLS, or unix:///path/to/socket"
	u, err := url.Parse(raw)
	if err != nil {
		v.add(path, "invalid Redis URL: "+want)
		return
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			v.add(path, "invalid Redis URL: no socket path; "+want)
		}
		return
	}
	host, port := u.Hostname(), u.Port()
	switch {
	case host == "" || strings.Trim(host, ":") == "":
		v.add(path, "invalid Redis URL: no host (go-redis would connect to localhost:6379); "+want)
	case isUnspecified(host):
		v.add(path, fmt.Sprintf("invalid Redis URL: %s is not an address to connect to; %s", host, want))
	case port != "" && !validPort(port, false):
		v.add(path, "invalid Redis URL: bad port; "+want)
	case strings.Contains(u.Host, ":") && port == "" && !strings.HasPrefix(u.Host, "["):
		v.add(path, "invalid Redis URL: bad host:port; "+want)
	}
}

func isUnspecified(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsUnspecified()
}

// redisURLError describes a redis.ParseURL error without the URL itself,
// which may hold a password.
func redisURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// checkListenAddr checks an address to listen on: "[host]:port".
func checkListenAddr(v *problemList, path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || !validPort(port, true) {
		v.add(path, fmt.Sprintf("invalid address %q: use [host]:port, like :8080 or 127.0.0.1:8080", addr))
	}
}

// checkDialAddr checks an address to connect to: "host:port".
func checkDialAddr(v *problemList, path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || !validPort(port, false) {
		v.add(path, fmt.Sprintf("invalid address %q: use host:port, like 10.0.0.5:26379", addr))
	}
}

func validPort(port string, zeroOK bool) bool {
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return false
	}
	return n > 0 || zeroOK
}

// checkUpstreamURL accepts only scheme://host[:port]: the gateway sends the
// authorized request path as it is, so an upstream URL with a path (or a
// query, fragment or credentials) would silently change what reaches it.
func checkUpstreamURL(v *problemList, path, raw string) {
	const want = "use http:// or https:// with a host and optional port only, like http://127.0.0.1:9000"
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			raw = "…" // may hold a password
		}
		v.add(path, fmt.Sprintf("invalid URL %q: %s", raw, want))
		return
	}
	shown := u.Redacted()
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(path, fmt.Sprintf("invalid URL %q: %s", shown, want))
	case u.Host == "" || u.Hostname() == "":
		v.add(path, fmt.Sprintf("invalid URL %q: no host; %s", shown, want))
	case u.Port() != "" && !validPort(u.Port(), false):
		v.add(path, fmt.Sprintf("invalid URL %q: bad port", shown))
	case u.User != nil:
		v.add(path, fmt.Sprintf("invalid URL %q: must not hold user:password@", shown))
	case u.Path != "" && u.Path != "/" || u.RawPath != "":
		v.add(path, fmt.Sprintf("invalid URL %q: must not have a path: requests keep their own path", shown))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		v.add(path, fmt.Sprintf("invalid URL %q: must not have a query or fragment", shown))
	}
}

// checkLinkURL checks a URL put into mails: absolute http(s).
func checkLinkURL(v *problemList, path, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(path, fmt.Sprintf("invalid URL %q: must be an absolute http:// or https:// URL", raw))
	}
}

func validateTrustedProxies(v *problemList, proxies []string) {
	for i, p := range proxies {
		path := indexPath("trusted_proxies", i)
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				v.add(path, fmt.Sprintf("invalid CIDR %q: use a CIDR like 10.0.0.0/8 or a single IP", p))
				continue
			}
			pfx = netip.PrefixFrom(addr, addr.BitLen())
		}
		if pfx.Bits() == 0 {
			v.warn(path, fmt.Sprintf("%s trusts X-Forwarded-* headers from every client", p))
		}
	}
}
