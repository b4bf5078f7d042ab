package testutil

import (
	"fmt"
	"net"
)

// FreePort returns a TCP port on 127.0.0.1 that was free when it was
// checked. Another process may take it before the caller binds it, so
// callers that can retry on "address in use" should do so.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testutil: find free port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("testutil: unexpected listener address %v", ln.Addr())
	}
	return addr.Port, nil
}
