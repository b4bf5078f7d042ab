package limitbench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// proc is one worker process, logging to a file.
type proc struct {
	cmd    *exec.Cmd
	log    string
	done   chan struct{} // closed once the process has been reaped
	err    error         // cmd.Wait's, once done is closed
	killed bool          // by the run, on purpose
}

// startProc starts argv with env added, logging to a file in dir.
func startProc(argv, env []string, dir string, n int) (*proc, error) {
	log := filepath.Join(dir, "worker-"+strconv.Itoa(n)+".log")
	f, err := os.Create(log)
	if err != nil {
		return nil, fmt.Errorf("limitbench: worker log: %w", err)
	}
	p := &proc{cmd: exec.Command(argv[0], argv[1:]...), log: log, done: make(chan struct{})} //nolint:gosec // the run's own program
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = sysProcAttr()
	err = p.cmd.Start()
	_ = f.Close() // the child has its own descriptor
	if err != nil {
		return nil, fmt.Errorf("limitbench: start worker %d: %w", n, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// status says how an exited process ended.
func (p *proc) status() string {
	if p.err == nil {
		return "status 0"
	}
	return p.err.Error()
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	p.killed = true
	_ = p.cmd.Process.Kill() // fails only when it has exited already
	<-p.done
}

// stop sends SIGTERM and waits up to timeout for a clean exit; it kills
// the process and returns an error otherwise.
func (p *proc) stop(timeout time.Duration) error {
	if p.exited() {
		return fmt.Errorf("limitbench: worker %d had exited before the end (%s); see %s", p.pid(), p.status(), p.log)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("limitbench: worker %d did not stop within %v; see %s", p.pid(), timeout, p.log)
	}
	if p.err != nil {
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			return fmt.Errorf("limitbench: worker %d exited with %w; see %s", p.pid(), ee, p.log)
		}
		return fmt.Errorf("limitbench: worker %d: %w", p.pid(), p.err)
	}
	return nil
}
