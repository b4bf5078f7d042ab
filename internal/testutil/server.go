package testutil

import (
	"bufio"
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrRedisServerNotFound is returned (wrapped) by StartServer when no
// redis-server binary can be found.
var ErrRedisServerNotFound = errors.New("redis-server not found")

// errAddrInUse marks a start attempt that failed because another process
// holds the port.
var errAddrInUse = errors.New("address already in use")

// errNoAttempt explains a start that timed out before its first PING.
var errNoAttempt = errors.New("deadline passed before the first attempt")

const (
	// envServerBinary overrides the redis-server binary to run.
	envServerBinary = "FAIRWAY_REDIS_SERVER"
	// startTimeout bounds how long a start waits for PING to answer.
	startTimeout = 10 * time.Second
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 10 * time.Second
	// readyPollInterval is how often a starting server is probed.
	readyPollInterval = 10 * time.Millisecond
	// startAttempts is how many free ports StartServer tries.
	startAttempts = 5
)

// Server is a redis-server process listening on 127.0.0.1, with its
// working directory and log in a private temporary directory. Its methods
// are safe for concurrent use.
type Server struct {
	bin  string
	conf string // config file, first on the command line, if any
	dir  string
	// extraDirs are removed with dir, by Close.
	extraDirs []string
	logPath   string
	args      []string
	// env is added to the process's environment (see StartSkewedServer).
	env  []string
	port int // fixed once StartServer returns
	// tls, when set, makes the server listen with TLS only on port (see
	// StartTLSServer); it is the client side of the connection.
	tls *tls.Config

	mu     sync.Mutex
	proc   *process // nil while stopped
	closed bool
}

// process is one run of redis-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // result of cmd.Wait, valid once done is closed
}

// StartServer starts redis-server on a free port on 127.0.0.1 in a new
// temporary directory, with persistence off and protected mode on, and
// waits until it answers PING. extraArgs are appended to the command line,
// for example "--maxmemory", "1mb".
//
// The binary is taken from $FAIRWAY_REDIS_SERVER if set, else found on
// PATH; if there is none the error wraps ErrRedisServerNotFound. The
// caller must Close the server. Tests should prefer StartServerT.
func StartServer(extraArgs ...string) (*Server, error) {
	return startServer(nil, extraArgs)
}

// startServer implements StartServer and StartTLSServer.
func startServer(tlsConfig *tls.Config, extraArgs []string) (*Server, error) {
	return startServerOn(FreePort, tlsConfig, extraArgs)
}

// startServerOn is startServer on a port chosen by pickPort, which is
// called again when another process took the port first.
func startServerOn(pickPort func() (int, error), tlsConfig *tls.Config, extraArgs []string) (*Server, error) {
	bin, err := findServerBinary()
	if err != nil {
		return nil, err
	}
	return startProcessOn(bin, "", pickPort, tlsConfig, extraArgs)
}

// startProcessOn is startServerOn with the binary given, and conf, when
// not empty, as the config file: a Sentinel needs one it can rewrite.
func startProcessOn(bin, conf string, pickPort func() (int, error), tlsConfig *tls.Config, extraArgs []string) (*Server, error) {
	return startProcessEnv(bin, conf, nil, pickPort, tlsConfig, extraArgs)
}

// startProcessEnv is startProcessOn with env added to the process's
// environment.
func startProcessEnv(bin, conf string, env []string, pickPort func() (int, error), tlsConfig *tls.Config, extraArgs []string) (*Server, error) {
	dir, err := os.MkdirTemp("", "fairway-redis-")
	if err != nil {
		return nil, fmt.Errorf("testutil: create redis-server dir: %w", err)
	}
	s := &Server{
		bin:     bin,
		conf:    conf,
		dir:     dir,
		logPath: filepath.Join(dir, "redis.log"),
		args:    slices.Clone(extraArgs),
		env:     env,
		tls:     tlsConfig,
	}
	for attempt := 1; ; attempt++ {
		s.port, err = pickPort()
		if err == nil {
			err = s.startLocked(time.Now().Add(startTimeout))
		}
		if err == nil {
			return s, nil
		}
		if attempt < startAttempts && errors.Is(err, errAddrInUse) {
			continue
		}
		_ = os.RemoveAll(dir)
		return nil, err
	}
}

// StartServerT is StartServer for tests: if redis-server is missing or
// fails to start it skips t (or fails it when FAIRWAY_REQUIRE_REDIS=1),
// and it closes the server when t finishes.
func StartServerT(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	s, err := StartServer(extraArgs...)
	return closedAtEnd(t, s, err)
}

// findServerBinary resolves the redis-server binary to run.
func findServerBinary() (string, error) {
	name := "redis-server"
	if v := os.Getenv(envServerBinary); v != "" {
		name = v
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("testutil: %w: %w", ErrRedisServerNotFound, err)
	}
	return path, nil
}

// Addr returns the server's address, "127.0.0.1:<port>". It does not
// change across Stop and Restart.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Dir returns the server's working directory, which survives Stop and
// Restart and is removed by Close.
func (s *Server) Dir() string {
	return s.dir
}

// Client returns a new client connected to the server. The caller must
// close it. The client reconnects by itself after a Restart.
func (s *Server) Client() *redis.Client {
	opts := &redis.Options{Addr: s.Addr()}
	if s.tls != nil {
		opts.TLSConfig = s.tls.Clone()
	}
	return redis.NewClient(opts)
}

// Stop shuts the server down with SIGTERM and waits for it to exit,
// sending SIGKILL if it has not exited within 10s. Stopping a stopped
// server does nothing. The port and directory are kept for Restart.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it
// to exit. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	_ = p.cmd.Process.Kill() // fails only if it has already exited
	<-p.done
}

// Restart starts the server again on the same port and in the same
// directory, stopping it first if it is running, and waits until it
// answers PING. Clients created earlier reconnect on their next command.
// How the previous run ended (even a crash) does not matter.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("testutil: Restart of a closed redis-server")
	}
	// Whatever went wrong with the old process, it is gone now.
	_ = s.stopLocked()
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.startLocked(deadline)
		// Something else may hold the port for a moment; retry until
		// the deadline rather than give up on the first attempt.
		if err == nil || !errors.Is(err, errAddrInUse) || !time.Now().Before(deadline) {
			return err
		}
		time.Sleep(readyPollInterval)
	}
}

// Close stops the server and removes its directory. The server cannot be
// restarted afterwards.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return errors.Join(s.stopLocked(), s.removeDirs())
}

// removeDirs removes the server's directory and extraDirs.
func (s *Server) removeDirs() error {
	errs := []error{os.RemoveAll(s.dir)}
	for _, d := range s.extraDirs {
		errs = append(errs, os.RemoveAll(d))
	}
	return errors.Join(errs...)
}

// stopLocked implements Stop; s.mu must be held.
func (s *Server) stopLocked() error {
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	select {
	case <-p.done:
		return fmt.Errorf("testutil: redis-server on %s had already exited (%s)%s",
			s.Addr(), exitStatus(p.err), s.logTail(0))
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // fails only if it has already exited
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("testutil: redis-server on %s: %w", s.Addr(), p.err)
		}
		return nil
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("testutil: redis-server on %s did not exit within %v of SIGTERM; killed it",
			s.Addr(), stopTimeout)
	}
}

// startLocked runs redis-server on s.port and waits for it to answer PING
// until deadline. s.mu must be held, or s not yet shared.
func (s *Server) startLocked(deadline time.Time) error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("testutil: open redis-server log: %w", err)
	}
	var logStart int64
	if info, err := logFile.Stat(); err == nil {
		logStart = info.Size()
	}
	ports := []string{"--port", strconv.Itoa(s.port)}
	if s.tls != nil {
		ports = []string{"--port", "0", "--tls-port", strconv.Itoa(s.port)}
	}
	args := slices.Concat(ports, []string{
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--protected-mode", "yes",
	}, s.args)
	if s.conf != "" {
		args = append([]string{s.conf}, args...)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	if len(s.env) > 0 {
		cmd.Env = append(os.Environ(), s.env...)
	}
	// *os.File outputs are handed to the child directly, so no copying
	// goroutines are left behind.
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	_ = logFile.Close() // the child has its own descriptor
	if err != nil {
		return fmt.Errorf("testutil: start redis-server: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	if err := waitReady(s.Addr(), s.tls, p, deadline); err != nil {
		_ = cmd.Process.Kill()
		<-p.done
		tail := s.logTail(logStart)
		if strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", errAddrInUse, err)
		}
		return fmt.Errorf("testutil: redis-server %s on %s: %w%s", s.bin, s.Addr(), err, tail)
	}
	s.proc = p
	return nil
}

// waitReady polls addr with PING until it answers, p exits or deadline
// passes.
func waitReady(addr string, tlsConfig *tls.Config, p *process, deadline time.Time) error {
	ticker := time.NewTicker(readyPollInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited during startup (%s)", exitStatus(p.err))
		default:
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return fmt.Errorf("no answer to PING within %v: %w", startTimeout, cmp.Or(lastErr, errNoAttempt))
		}
		if lastErr = pingTLS(addr, tlsConfig, min(remaining, 500*time.Millisecond)); lastErr == nil {
			return nil
		}
		select {
		case <-p.done:
		case <-ticker.C:
		}
	}
}

// ping sends PING over a raw connection. Any reply except -LOADING counts
// as ready (an -NOAUTH reply still means the server is serving).
func ping(addr string, timeout time.Duration) error {
	return pingTLS(addr, nil, timeout)
}

// pingTLS is ping over TLS when tlsConfig is set.
func pingTLS(addr string, tlsConfig *tls.Config, timeout time.Duration) error {
	var conn net.Conn
	var err error
	if tlsConfig != nil {
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", addr, tlsConfig)
	} else {
		conn, err = net.DialTimeout("tcp", addr, timeout)
	}
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := io.WriteString(conn, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "-LOADING") {
		return errors.New(strings.TrimSpace(line))
	}
	return nil
}

// exitStatus describes the result of cmd.Wait.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// logTail returns the end of the server log from offset on, formatted to
// be appended to an error message, or "" if there is nothing to show.
func (s *Server) logTail(offset int64) string {
	const maxTail = 2048
	data, err := os.ReadFile(s.logPath)
	if err != nil || offset >= int64(len(data)) {
		return ""
	}
	data = data[offset:]
	if len(data) > maxTail {
		data = data[len(data)-maxTail:]
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return ""
	}
	return "\nredis-server log:\n" + text
}
