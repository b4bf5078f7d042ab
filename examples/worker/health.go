package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// healthServer serves the worker's /healthz and /readyz on their own port.
type healthServer struct {
	srv  *http.Server
	log  *slog.Logger
	done chan struct{}
}

// startHealth listens on addr and serves h there. If the server fails later,
// it calls fail, which stops the worker. With addr "off" it serves nothing
// and returns nil, whose shutdown does nothing.
func startHealth(addr string, h http.Handler, log *slog.Logger, fail context.CancelCauseFunc) (*healthServer, error) {
	if addr == healthOff {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health endpoint: %w", err)
	}
	s := &healthServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		log:  log,
		done: make(chan struct{}),
	}
	log.Info("health endpoint listening", "addr", ln.Addr().String())
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			fail(fmt.Errorf("health endpoint: %w", err))
		}
	}()
	return s, nil
}

// shutdown stops the server, letting probes in progress finish.
func (s *healthServer) shutdown() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.log.Warn("health endpoint did not shut down cleanly", "err", err)
	}
	<-s.done
}
