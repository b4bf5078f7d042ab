//go:build unix

package testutil

import "syscall"

// Pause stops the server's process with SIGSTOP: it keeps its
// connections open but answers nothing, as a hung or overloaded server
// would; a paused replica confirms no writes. Resume (or Close) continues
// it. Pausing a stopped server does nothing.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a server stopped by Pause.
func (s *Server) Resume() { s.resume() }

func (s *Server) resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		_ = s.proc.cmd.Process.Signal(sig) // fails only if it has exited
	}
}
