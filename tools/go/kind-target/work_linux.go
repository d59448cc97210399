package main

import (
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

const clockThreadCPUTimeID = 3 // CLOCK_THREAD_CPUTIME_ID

// threadCPU is this OS thread's CPU time (user + system); ok false if the clock is unavailable.
func threadCPU() (time.Duration, bool) {
	var ts syscall.Timespec
	_, _, errno := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// burn spends us microseconds of this thread's CPU time (not wall time: a descheduled thread
// burns nothing, so the CPU a request costs does not depend on how busy the node is).
func burn(us int64) {
	if us <= 0 {
		return
	}
	runtime.LockOSThread() // the thread's clock must be the one the loop runs on
	defer runtime.UnlockOSThread()
	start, ok := threadCPU()
	if !ok {
		burnWall(us)
		return
	}
	want := time.Duration(us) * time.Microsecond
	x := seedFor(start)
	for {
		x = spin(x)
		now, _ := threadCPU()
		if now-start >= want {
			break
		}
	}
	sink.Add(x)
}
