//go:build !linux

package fastpath

import (
	"context"
	"net"
)

// Server is not available on this platform: New returns ErrUnsupported and
// the gateway serves everything with the Fiber app.
type Server struct{}

type conn struct{}

// New returns ErrUnsupported.
func New(Options) (*Server, error) { return nil, ErrUnsupported }

func (*Server) Handoff() net.Listener          { return nil }
func (*Server) Serve() error                   { return ErrUnsupported }
func (*Server) Shutdown(context.Context) error { return nil }

// Counts is always zero here.
func (*Server) Counts() (served, relayed, handedOver uint64) { return 0, 0, 0 }

// Waiting is always zero here.
func (*Server) Waiting() int { return 0 }
