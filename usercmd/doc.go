// Package usercmd owns `authgate users`: managing accounts from the shell
// (add, list, show, set-password, set-roles, disable, enable, delete,
// revoke-sessions) against the configured store, with the validation and the
// session revocation of the HTTP admin API, because every command runs
// through package account, as the API does.
//
// Where a command runs:
//   - Redis: the command opens the store itself. Revocations go through the
//     store's feed (pub/sub), so running instances refuse the revoked
//     sessions at once, as after an API call.
//   - Embedded (bbolt): a running gateway holds an exclusive lock on the file
//     (flock; bbolt waits for it and gives up after a timeout), so a second
//     process can neither read nor write it. The gateway therefore listens on
//     a Unix socket next to the store file (<store.path>.sock, mode 0600:
//     only the user the gateway runs as, and root, may use it), and the
//     command sends itself there; the gateway runs it on its open store, so
//     revocations take effect in the running process. With no gateway
//     answering on the socket, the command opens the file itself, waiting up
//     to -wait for the lock, and says so when it cannot get it.
//   - Memory: refused; that store lives and dies with one process.
//
// What it refuses: it never prints a password or a hash, never takes a
// password on the command line (a terminal is read without echo, otherwise
// the first line of stdin), and it does not decide who may run it: the
// socket's file mode and the store's credentials do.
package usercmd
