package fastpath

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
)

// resolved holds the addresses of an upstream's host, looked up off the
// loops: a loop never waits on DNS. Until the first lookup succeeds the loops
// hand requests for that upstream to the Fiber app.
type resolved struct {
	list atomic.Pointer[[]netip.AddrPort]
	next atomic.Uint32
	name string // host name to look up; "" for an IP literal
	port uint16
}

// init parses host:port; an IP literal is resolved at once.
func (r *resolved) init(hostport string) error {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return err
	}
	r.port = uint16(port)
	if ip, err := netip.ParseAddr(host); err == nil {
		list := []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), r.port)}
		r.list.Store(&list)
		return nil
	}
	r.name = host
	return nil
}

// pick returns the next address, round robin, and false before the first
// successful lookup.
func (r *resolved) pick() (netip.AddrPort, bool) {
	l := r.list.Load()
	if l == nil || len(*l) == 0 {
		return netip.AddrPort{}, false
	}
	return (*l)[int(r.next.Add(1))%len(*l)], true
}

// keepFresh looks the name up now and every interval until ctx ends. A
// failed lookup keeps the last good addresses.
func (r *resolved) keepFresh(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if r.name == "" {
		return
	}
	for {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ips, err := net.DefaultResolver.LookupNetIP(lctx, "ip", r.name)
		cancel()
		if err == nil && len(ips) > 0 {
			list := make([]netip.AddrPort, len(ips))
			for i, ip := range ips {
				list[i] = netip.AddrPortFrom(ip.Unmap(), r.port)
			}
			r.list.Store(&list)
		} else if ctx.Err() == nil {
			log.Warn("fast path: upstream lookup failed; the Fiber app serves it meanwhile", "host", r.name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
