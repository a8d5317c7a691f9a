package fastpath

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loops make their system calls raw, without telling the Go scheduler
// (entersyscall and exitsyscall, and the handing over of the P that a
// blocking call invites, cost about as much as the calls themselves):
//
//   - recv and send are on non-blocking sockets and return at once (the
//     socket calls, not read and write, which take the file layer's path);
//   - epoll_pwait waits at most scanEvery. While it waits, the loop's
//     goroutine keeps its P: Server.New raises GOMAXPROCS by the number of
//     loops so that the rest of the program keeps as many Ps as before. A
//     goroutine the runtime wants to stop (garbage collection, preemption)
//     is signalled; the signal ends the wait with EINTR and the loop stops
//     at its next function call.

func rawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// poll returns the ready events, waiting at most ms milliseconds.
func poll(ep int, events []unix.EpollEvent, ms int) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(ms), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// readable reports whether an idle socket has a byte or its peer's close
// waiting, without taking it: a non-blocking recv with MSG_PEEK of one byte
// into scratch.
func readable(fd int, scratch *[1]byte) bool {
	_, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&scratch[0])), 1, unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	// EAGAIN: nothing. Otherwise a byte, the peer's close (0 bytes), or an
	// error: none of them may be taken for the next request's answer.
	return e != unix.EAGAIN
}
