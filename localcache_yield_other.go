//go:build !linux

package redisclient

import "runtime"

// yieldProcessor lets other goroutines run on this processor: see
// yieldEvery.
func yieldProcessor() { runtime.Gosched() }
