package chaos

import "syscall"

// sysProcAttr asks the kernel to kill a worker if the chaos program dies
// without stopping it, so that none outlives the run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
