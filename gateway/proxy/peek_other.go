//go:build !unix

package proxy

import "net"

// peeker cannot look at a socket here: a pooled connection's unread bytes
// are found only when they are already in its buffer (see connPool.put).
type peeker struct{}

func (*peeker) init(net.Conn) {}

func (*peeker) readable() bool { return false }
