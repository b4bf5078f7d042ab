package testutil

import "syscall"

// sysProcAttr asks the kernel to kill redis-server if the test binary
// dies without stopping it (a panic, a -timeout, a signal), so no server
// outlives its tests.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
