package main

import (
	"sync/atomic"
	"time"
)

// sink keeps the busy loop's result alive, so the compiler cannot remove the loop.
var sink atomic.Uint64

// spin is a slice of CPU work of about a microsecond (xorshift rounds).
func spin(x uint64) uint64 {
	for range 512 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func seedFor(d time.Duration) uint64 { return uint64(d) | 1 }

// burnWall: where no thread CPU clock exists, spin for wall time instead.
func burnWall(us int64) {
	deadline := time.Now().Add(time.Duration(us) * time.Microsecond)
	x := seedFor(time.Duration(time.Now().UnixNano()))
	for time.Now().Before(deadline) {
		x = spin(x)
	}
	sink.Add(x)
}
