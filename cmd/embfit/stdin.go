package main

import (
	"context"
	"os"
	"syscall"
	"time"
)

// interruptibleStdin makes a read of standard input that is waiting on a
// pipe or terminal return (with os.ErrDeadlineExceeded) once ctx is done,
// so Ctrl-C stops a command reading "-" at once. It replaces os.Stdin by a
// non-blocking, poller-backed file of the same descriptor; restore puts
// the descriptor back into blocking mode (the shell shares it). Regular
// files never block and are left alone.
func interruptibleStdin(ctx context.Context) (restore func()) {
	var st syscall.Stat_t
	if err := syscall.Fstat(0, &st); err != nil || st.Mode&syscall.S_IFMT == syscall.S_IFREG {
		return func() {}
	}
	if err := syscall.SetNonblock(0, true); err != nil {
		return func() {}
	}
	f := os.NewFile(0, "/dev/stdin")
	old := os.Stdin
	os.Stdin = f
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	return func() {
		stop()
		os.Stdin = old
		syscall.SetNonblock(0, false)
	}
}
