// boltcheck FILE: bbolt's own consistency check (Tx.Check) of a bbolt file,
// opened read-only, as the reference the fixture matrix compares etcd-medic's
// bolt checker with.  The bbolt is the one the etcd version under test links:
// tests/etcd/install.sh builds this one source for each version of
// tests/etcd/versions into that version's dir, for etcd 3.4 in GOPATH mode
// from Debian's packaged go.etcd.io/bbolt 1.3.6 with Debian's Go, for 3.5 and
// later in module mode with the bbolt etcd's modules require (pinned by
// tests/etcd/etcd-SERIES.mod and .sum: 1.3.x for 3.5, 1.4.x for 3.6, 1.5.x
// for 3.7).  The calls used here (Open with ReadOnly and Timeout, DB.View,
// Tx.Check) are the same in all of them, so there is no per-series file and
// the build tags (etcd34 ... etcd37) select nothing here; the one difference
// that matters here depends on bbolt's version, not etcd's, and is read from
// the build info (see checkSettle).  What differs between bbolt versions is
// what their Check finds and how it fails: 1.3.7 added key-order checks, 1.5
// recovers a panic of the check and sends it as one more error (1.3 and 1.4
// crash in Check's goroutine).
//
// Output: one line per error Tx.Check reports, then "N errors found" or "OK".
// bbolt panics or crashes on several kinds of damage, and some of those
// panics happen in goroutines bbolt starts itself (Tx.Check runs in one; with
// etcd's NoFreelistSync, the free-page scan panics in another on the first
// error), where recover() cannot reach them.  So the check runs in a child
// process (this program, re-executed) and a crash of the child is reported
// as "panic: <first line of the Go runtime's message>", an error.
//
// Exit status: 0 OK, 1 errors (including a panic, a crash or a hang), 2 the
// file could not be opened (missing, not a bbolt file, lock timeout).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	childEnv     = "BOLTCHECK_CHILD"
	childTimeout = 30 * time.Second

	exitOK       = 0
	exitErrors   = 1
	exitNoOpen   = 2
	childNoOpen  = 3 // the child's "could not open": 2 is the Go runtime's crash status
	childPanic   = 4 // a panic the child recovered itself
	runtimeCrash = 2
)

func main() {
	if len(os.Args) != 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: boltcheck FILE")
		os.Exit(exitNoOpen)
	}
	if os.Getenv(childEnv) == "1" {
		os.Exit(child(os.Args[1]))
	}
	os.Exit(parent(os.Args[1]))
}

// parent runs the check in a child process and translates its fate.
func parent(path string) int {
	// bolt.Open creates a missing file even in read-only mode (it passes
	// O_CREATE): never let it.
	if _, err := os.Stat(path); err != nil {
		fmt.Printf("open: %v\n", err)
		return exitNoOpen
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Printf("open: cannot find own executable: %v\n", err)
		return exitNoOpen
	}
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, path)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	os.Stdout.Write(stdout.Bytes())

	if ctx.Err() == context.DeadlineExceeded {
		fmt.Printf("panic: check did not finish within %v (killed)\n", childTimeout)
		return exitErrors
	}
	code := 0
	if runErr != nil {
		var ee *exec.ExitError
		if !errors.As(runErr, &ee) {
			fmt.Printf("open: cannot run the check: %v\n", runErr)
			return exitNoOpen
		}
		code = ee.ExitCode()
	}
	switch code {
	case exitOK, exitErrors:
		return code
	case childNoOpen:
		return exitNoOpen
	case childPanic:
		return exitErrors
	case runtimeCrash:
		fmt.Printf("panic: %s\n", crashLine(stderr.Bytes()))
		return exitErrors
	default:
		// -1: killed by a signal the runtime did not handle.
		fmt.Printf("panic: check exited with status %d: %s\n", code, crashLine(stderr.Bytes()))
		return exitErrors
	}
}

// crashLine picks the Go runtime's one-line explanation out of a crash dump.
func crashLine(dump []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(dump))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for _, p := range []string{"panic: ", "fatal error: ", "unexpected fault address", "runtime: "} {
			if strings.HasPrefix(line, p) {
				return strings.TrimPrefix(line, "panic: ")
			}
		}
	}
	first := strings.SplitN(strings.TrimSpace(string(dump)), "\n", 2)[0]
	if first == "" {
		first = "(no message)"
	}
	return first
}

// child opens the db read-only and prints what Tx.Check finds.
func child(path string) (code int) {
	// A cycle in the page tree makes bbolt recurse without end: fail fast.
	debug.SetMaxStack(64 << 20)
	// Faults on the mmap (a truncated file) become panics in this goroutine.
	debug.SetPanicOnFault(true)
	defer func() {
		if r := recover(); r != nil {
			fmt.Printf("panic: %v\n", r)
			code = childPanic
		}
	}()

	db, err := bolt.Open(path, 0400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		fmt.Printf("open: %v\n", err)
		return childNoOpen
	}
	defer db.Close()

	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			fmt.Println(e)
			n++
		}
		if n == 0 {
			time.Sleep(checkSettle())
		}
		return nil
	})
	if err != nil {
		fmt.Printf("view: %v\n", err)
		return exitErrors
	}
	if n > 0 {
		fmt.Printf("%d errors found\n", n)
		return exitErrors
	}
	fmt.Println("OK")
	return exitOK
}

// checkSettle: how long to wait after Check's channel closed without an
// error before believing it.  bbolt 1.4 closes the channel in a deferred
// call of Check's goroutine, so a panic of the check closes it first and
// crashes the process a moment later: without a pause the child could print
// "OK" and exit 0 before the crash.  1.3 closes the channel only when the
// check returns (a panic leaves this loop blocked until the crash) and 1.5
// recovers the panic and sends it as an error.  The bbolt linked is read
// from the build info (module mode; the GOPATH build for etcd 3.4 links
// Debian's 1.3.6 and has none).
func checkSettle() time.Duration {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "go.etcd.io/bbolt" && strings.HasPrefix(m.Version, "v1.4.") {
				return 200 * time.Millisecond
			}
		}
	}
	return 0
}
