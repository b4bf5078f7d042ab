package testutil

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// clockShimSource is an LD_PRELOAD library that moves a process's wall
// clock (see clockshim/clockshim.c).
//
//go:embed clockshim/clockshim.c
var clockShimSource []byte

// clockShim builds the shim once per test binary with the C compiler ($CC,
// else gcc, which the race detector needs anyway).
var clockShim = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "fairway-clockshim-")
	if err != nil {
		return "", fmt.Errorf("testutil: clock shim dir: %w", err)
	}
	src := filepath.Join(dir, "clockshim.c")
	if err := os.WriteFile(src, clockShimSource, 0o600); err != nil {
		return "", fmt.Errorf("testutil: clock shim source: %w", err)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	lib := filepath.Join(dir, "clockshim.so")
	out, err := exec.Command(cc, "-shared", "-fPIC", "-O2", "-o", lib, src).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("testutil: build clock shim with %s: %w: %s", cc, err, out)
	}
	return lib, nil
})

// StartSkewedServer is StartServer for a redis-server whose wall clock (the
// clock of TIME, of key expiry by timestamp, and of its logs) is offset
// from this machine's: negative when Redis is behind. Only the server's
// process is affected, so a test sees both clocks disagree as they would on
// two machines. It needs a C compiler to build the shim (Linux only).
func StartSkewedServer(offset time.Duration, extraArgs ...string) (*Server, error) {
	lib, err := clockShim()
	if err != nil {
		return nil, err
	}
	bin, err := findServerBinary()
	if err != nil {
		return nil, err
	}
	env := []string{
		"LD_PRELOAD=" + lib,
		"FAIRWAY_CLOCK_OFFSET_MS=" + strconv.FormatInt(offset.Milliseconds(), 10),
	}
	return startProcessEnv(bin, "", env, FreePort, nil, extraArgs)
}

// StartSkewedServerT is StartSkewedServer for tests, with StartServerT's
// skip-or-fail rule and the server closed when t finishes.
func StartSkewedServerT(t testing.TB, offset time.Duration, extraArgs ...string) *Server {
	t.Helper()
	s, err := StartSkewedServer(offset, extraArgs...)
	return closedAtEnd(t, s, err)
}
