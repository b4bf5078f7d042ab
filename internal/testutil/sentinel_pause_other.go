//go:build !unix

package testutil

// Pause would stop the server's process; it does nothing where there is
// no SIGSTOP.
func (s *Server) Pause() {}

// Resume continues a server stopped by Pause.
func (s *Server) Resume() {}

func (s *Server) resume() {}
