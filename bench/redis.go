package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a private redis-server on a free loopback port, so that
// the numbers count only the benchmark's own commands.
type redisServer struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// slowlogMicros is the SLOWLOG threshold of the benchmark's server.
const slowlogMicros = 1000

// startRedis starts bin (redis-server) without persistence and waits until
// it answers PING.
func startRedis(ctx context.Context, bin string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fairway-bench-redis-")
	if err != nil {
		return nil, err
	}
	s := &redisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", "redis.log",
		// Calls of over a millisecond go to the SLOWLOG, which the
		// comparison reads after each part it measures.
		"--slowlog-log-slower-than", strconv.Itoa(slowlogMicros), "--slowlog-max-len", "100000")
	s.cmd.Dir = dir
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		s.stop()
		return nil, fmt.Errorf("%w\nredis-server log:\n%s", err, log)
	}
	return s, nil
}

func (s *redisServer) waitReady(ctx context.Context) error {
	rdb := s.client()
	defer func() { _ = rdb.Close() }()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("redis-server exited at start (%v)", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("redis-server on %s does not answer: %w", s.addr, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// client returns a new client of the server, with go-redis's default
// options (a pool of 10 connections per CPU).
func (s *redisServer) client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.addr})
}

// clientPool returns a new client of the server with a pool of n
// connections, for callers that keep more than the default busy at once.
func (s *redisServer) clientPool(n int) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.addr, PoolSize: n})
}

// stop ends the server and removes its directory.
func (s *redisServer) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	_ = os.RemoveAll(s.dir)
}

// redisBinary is $FAIRWAY_REDIS_SERVER, else redis-server on PATH.
func redisBinary() (string, error) {
	name := "redis-server"
	if v := os.Getenv("FAIRWAY_REDIS_SERVER"); v != "" {
		name = v
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", errors.New("redis-server not found: install it or set FAIRWAY_REDIS_SERVER")
	}
	return path, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("unexpected listener address %v", ln.Addr())
	}
	return addr.Port, nil
}
