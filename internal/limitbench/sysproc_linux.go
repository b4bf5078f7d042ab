package limitbench

import "syscall"

// sysProcAttr has the kernel kill a worker process if the run's own process
// dies first, so that none outlives it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
