//go:build linux

package redisclient

import (
	"runtime"
	"syscall"
)

// yieldProcessor lets other goroutines run on this processor, and other
// threads on this CPU (sched_yield): see yieldEvery.
func yieldProcessor() {
	runtime.Gosched()
	_, _, _ = syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
