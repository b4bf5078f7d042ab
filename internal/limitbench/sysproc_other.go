//go:build !linux

package limitbench

import "syscall"

// sysProcAttr sets nothing where the kernel cannot tie a worker's life to
// the run's.
func sysProcAttr() *syscall.SysProcAttr { return nil }
