//go:build !linux

package main

func burn(us int64) {
	if us > 0 {
		burnWall(us)
	}
}
