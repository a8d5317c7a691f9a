package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// trustedProxies decides whose forwarding headers are believed.
type trustedProxies []netip.Prefix

// parseTrusted reads config trusted_proxies (CIDRs or single addresses).
func parseTrusted(list []string) (trustedProxies, error) {
	var out trustedProxies
	for i, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies[%d]: %q is neither a CIDR nor an IP address", i, s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (t trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr converts the connection's remote IP.
func peerAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// clientIP returns the address of the client: the peer itself, or, when the
// peer is a trusted proxy, the rightmost X-Forwarded-For entry that is not a
// trusted proxy (entries to its left are client-controlled). xff is the
// joined value of every X-Forwarded-For header.
func (t trustedProxies) clientIP(peer netip.Addr, xff string) netip.Addr {
	if len(t) == 0 || !t.contains(peer) || xff == "" {
		return peer
	}
	client := peer
	for xff != "" {
		var entry string
		if i := strings.LastIndexByte(xff, ','); i >= 0 {
			entry, xff = xff[i+1:], xff[:i]
		} else {
			entry, xff = xff, ""
		}
		a, err := netip.ParseAddr(strings.TrimSpace(entry))
		if err != nil {
			return client // garbage: stop at the last address we could trust
		}
		client = a.Unmap()
		if !t.contains(client) {
			return client
		}
	}
	return client
}
