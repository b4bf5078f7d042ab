package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// BuildWorker builds the examples/worker binary into dir and returns its
// path.
func BuildWorker(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "fairway-worker")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/fairwayhq/fairway/examples/worker")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("chaos: build the worker: %w\n%s", err, out)
	}
	return bin, nil
}

// proc is one worker process, logging to a file.
type proc struct {
	id   int
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has been reaped
}

// startWorker starts the worker binary with env, logging to dir.
func startWorker(bin, dir string, id int, env []string) (*proc, error) {
	log := filepath.Join(dir, fmt.Sprintf("worker-%02d.log", id))
	f, err := os.Create(log)
	if err != nil {
		return nil, fmt.Errorf("chaos: worker log: %w", err)
	}
	p := &proc{id: id, cmd: exec.Command(bin), log: log, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = sysProcAttr()
	err = p.cmd.Start()
	_ = f.Close() // the child has its own descriptor
	if err != nil {
		return nil, fmt.Errorf("chaos: start worker %d: %w", id, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill() // fails only when it has exited already
	<-p.done
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// terminate sends SIGTERM and waits for the exit, up to timeout; it returns
// an error unless the process exited 0 in time.
func (p *proc) terminate(timeout time.Duration) error {
	if !p.running() {
		return fmt.Errorf("worker %d had exited already (%v); see %s", p.id, p.cmd.ProcessState, p.log)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("worker %d still running %v after SIGTERM; killed it; see %s", p.id, timeout, p.log)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("worker %d exited %d after SIGTERM; see %s", p.id, code, p.log)
	}
	return nil
}

// terminateAll SIGTERMs every running process at once and waits for them.
func terminateAll(ps []*proc, timeout time.Duration) error {
	errs := make(chan error, len(ps))
	for _, p := range ps {
		go func() { errs <- p.terminate(timeout) }()
	}
	var all []error
	for range ps {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}
