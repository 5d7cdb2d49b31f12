// walverify [--snap-dir DIR] [--db FILE] WALDIR: etcd 3.4.23's own reading of
// a member's WAL (and, given --snap-dir, of its .snap files), as the
// reference the fixture matrix compares etcd-medic's wal and snap checkers
// with.  Built from Debian's go.etcd.io/etcd 3.4.23 in GOPATH mode by
// tests/ref/build.sh.
//
// It runs, in order, what etcdserver.NewServer does when a member restarts
// (etcdserver/server.go, storage.go readWAL, raft's loadState), without ever
// writing to the data dir:
//
//  1. wal.ValidSnapshotEntries(WALDIR): every file from the first, CRC chain.
//  2. The snapshot etcd starts from: with --snap-dir, the newest .snap that
//     snap.Read accepts and whose term/index is among those entries (what
//     Snapshotter.LoadNewestAvailable does, minus its renaming of unreadable
//     files to .broken); none: index 0.  Without --snap-dir, the newest entry.
//  3. wal.Verify at that snapshot.
//  4. OpenForRead + ReadAll (read mode) at that snapshot.
//  5. "startup": on a private copy of the files etcd would open (in TMPDIR), wal.Open
//     (write mode) + ReadAll, wal.Repair once on io.ErrUnexpectedEOF, as
//     readWAL does; then raft's check that HardState.Commit lies within
//     [snapshot index, last index].
//  6. With --db: if the snapshot index is above the db's consistent_index,
//     the <index>.snap.db etcd would need must exist (recoverSnapshotBackend);
//     a missing db counts as consistent_index 0, as etcd creates a new one.
//
// Each step prints one line "<step>: ok ..." or "<step>: error: ...".
// Exit status: 0 every step passed, 1 a step failed, 2 usage or WALDIR is not
// a readable directory.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/etcdserver/api/snap"
	"go.etcd.io/etcd/raft/raftpb"
	"go.etcd.io/etcd/wal"
	"go.etcd.io/etcd/wal/walpb"
	"go.uber.org/zap"
)

var (
	lg      = zap.NewNop()
	failed  = false
	walName = regexp.MustCompile(`^([0-9a-f]{16})-([0-9a-f]{16})\.wal$`)
)

func report(step string, err error, okDetail string) {
	if err != nil {
		failed = true
		fmt.Printf("%s: error: %v\n", step, err)
		return
	}
	if okDetail != "" {
		fmt.Printf("%s: ok (%s)\n", step, okDetail)
	} else {
		fmt.Printf("%s: ok\n", step)
	}
}

// guard runs f, turning a panic (etcd's MustUnmarshal, raft slices) into an
// error.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

func main() {
	snapDir := flag.String("snap-dir", "", "member/snap directory: choose the start snapshot as etcd does")
	dbPath := flag.String("db", "", "member/snap/db: check the snapshot against its consistent_index")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: walverify [--snap-dir DIR] [--db FILE] WALDIR")
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	walDir := flag.Arg(0)
	if fi, err := os.Stat(walDir); err != nil || !fi.IsDir() {
		fmt.Printf("open: %s is not a readable directory (%v)\n", walDir, err)
		os.Exit(2)
	}
	debug.SetMaxStack(256 << 20)
	debug.SetPanicOnFault(true)

	// 1. Every snapshot record, reading all files from the first.
	var walSnaps []walpb.Snapshot
	err := guard(func() (e error) {
		walSnaps, e = wal.ValidSnapshotEntries(lg, walDir)
		return e
	})
	report("ValidSnapshotEntries", err, fmt.Sprintf("%d snapshot records", len(walSnaps)))
	if err != nil {
		finish()
	}

	// 2. The snapshot etcd would start from.
	start := walpb.Snapshot{}
	var snapIndex uint64
	haveSnap := false
	if *snapDir != "" {
		s, serr := newestAvailable(*snapDir, walSnaps)
		if serr != nil {
			report("snapshot", serr, "")
			finish()
		}
		if s != nil {
			start = walpb.Snapshot{Index: s.Metadata.Index, Term: s.Metadata.Term}
			snapIndex = s.Metadata.Index
			haveSnap = true
		}
	} else if len(walSnaps) > 0 {
		start = walSnaps[len(walSnaps)-1]
	}
	fmt.Printf("start: term %d index %d\n", start.Term, start.Index)

	// 3. wal.Verify at the start snapshot.
	report("Verify", guard(func() error { return wal.Verify(lg, walDir, start) }), "")

	// 4. Read mode, as tools read it.
	report("ReadAll(read)", guard(func() error { return readAllReadMode(walDir, start) }), "")

	// 5. Write mode on a private copy, as the server's readWAL does.
	detail, err := startup(walDir, start)
	report("startup", err, detail)

	// 6. The db must not be behind the snapshot without its .snap.db.
	if *dbPath != "" && haveSnap {
		report("backend", checkBackend(*dbPath, *snapDir, snapIndex), "")
	}
	finish()
}

func finish() {
	if failed {
		fmt.Println("verdict: error")
		os.Exit(1)
	}
	fmt.Println("verdict: ok")
	os.Exit(0)
}

// newestAvailable is Snapshotter.LoadNewestAvailable without the renames:
// the newest readable .snap whose term and index the WAL records.  nil, nil
// is etcd's ErrNoSnapshot, after which it starts from index 0.
func newestAvailable(dir string, walSnaps []walpb.Snapshot) (*raftpb.Snapshot, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err // etcd fails too: snapNames cannot open the dir
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".snap") {
			names = append(names, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, name := range names {
		var s *raftpb.Snapshot
		rerr := guard(func() (e error) {
			s, e = snap.Read(lg, filepath.Join(dir, name))
			return e
		})
		if rerr != nil {
			fmt.Printf("snap %s: unreadable, etcd would rename it .broken: %v\n", name, rerr)
			continue
		}
		for i := len(walSnaps) - 1; i >= 0; i-- {
			if s.Metadata.Term == walSnaps[i].Term && s.Metadata.Index == walSnaps[i].Index {
				fmt.Printf("snap %s: loaded (term %d index %d)\n", name, s.Metadata.Term, s.Metadata.Index)
				return s, nil
			}
		}
		fmt.Printf("snap %s: not recorded in the WAL, skipped\n", name)
	}
	fmt.Println("snap: no usable .snap; etcd starts from index 0")
	return nil, nil
}

func readAllReadMode(walDir string, start walpb.Snapshot) error {
	w, err := wal.OpenForRead(lg, walDir, start)
	if err != nil {
		return err
	}
	defer w.Close()
	_, _, _, err = w.ReadAll()
	return err
}

type walFile struct {
	name       string
	seq, index uint64
}

// filesFrom lists the .wal files etcd would open at start (the last whose
// index <= start.Index, and all after it), or all of them when none
// qualifies, so that wal.Open reports the same error on the copy.
func filesFrom(walDir string, start walpb.Snapshot) ([]walFile, error) {
	ents, err := os.ReadDir(walDir)
	if err != nil {
		return nil, err
	}
	var files []walFile
	for _, e := range ents {
		m := walName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		seq, _ := strconv.ParseUint(m[1], 16, 64)
		idx, _ := strconv.ParseUint(m[2], 16, 64)
		files = append(files, walFile{e.Name(), seq, idx})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	for i := len(files) - 1; i >= 0; i-- {
		if files[i].index <= start.Index {
			return files[i:], nil
		}
	}
	return files, nil
}

// copyFile copies src to dst, leaving holes where src has runs of zeros (a
// WAL file is preallocated to 64 MB of zeros): reads see the same bytes.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0600)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			if !allZero(buf[:n]) {
				if _, err := out.WriteAt(buf[:n], off); err != nil {
					out.Close()
					return err
				}
			}
			off += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			out.Close()
			return rerr
		}
	}
	if err := out.Truncate(fi.Size()); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// startup is etcdserver's readWAL on a copy, then raft's loadState check.
func startup(walDir string, start walpb.Snapshot) (string, error) {
	files, err := filesFrom(walDir, start)
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "walverify-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// Write mode only ever writes the last file (ReadAll zero-fills its
	// tail, Repair truncates it): that one is copied, the others linked
	// when TMPDIR is on the same filesystem, copied otherwise.
	for i, f := range files {
		src, dst := filepath.Join(walDir, f.name), filepath.Join(tmp, f.name)
		if i < len(files)-1 && os.Link(src, dst) == nil {
			continue
		}
		if err := copyFile(src, dst); err != nil {
			return "", fmt.Errorf("copy %s: %v", f.name, err)
		}
	}

	var st raftpb.HardState
	var ents []raftpb.Entry
	repaired := false
	for {
		var w *wal.WAL
		err = guard(func() (e error) {
			w, e = wal.Open(lg, tmp, start)
			return e
		})
		if err != nil {
			return "", fmt.Errorf("open WAL: %v", err)
		}
		err = guard(func() (e error) {
			_, st, ents, e = w.ReadAll()
			return e
		})
		w.Close()
		if err == nil {
			break
		}
		if repaired || err != io.ErrUnexpectedEOF {
			return "", fmt.Errorf("read WAL, cannot be repaired: %v", err)
		}
		if !wal.Repair(lg, tmp) {
			return "", fmt.Errorf("repair WAL failed after: %v", err)
		}
		repaired = true
	}

	last := start.Index
	if len(ents) > 0 {
		last = ents[len(ents)-1].Index
	}
	if !raftIsEmptyHardState(st) && (st.Commit < start.Index || st.Commit > last) {
		return "", fmt.Errorf("raft would panic: state.commit %d is out of range [%d, %d]", st.Commit, start.Index, last)
	}
	detail := fmt.Sprintf("%d entries after the snapshot, last index %d, commit %d", len(ents), last, st.Commit)
	if repaired {
		detail += "; repaired a torn tail (io.ErrUnexpectedEOF)"
	}
	return detail, nil
}

func raftIsEmptyHardState(st raftpb.HardState) bool {
	return st.Term == 0 && st.Vote == 0 && st.Commit == 0
}

// checkBackend is recoverSnapshotBackend's test: a db behind the snapshot
// needs the .snap.db received from the leader.
func checkBackend(dbPath, snapDir string, snapIndex uint64) error {
	ci := uint64(0)
	if _, err := os.Stat(dbPath); err == nil {
		rerr := guard(func() error {
			db, err := bolt.Open(dbPath, 0400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
			if err != nil {
				return err
			}
			defer db.Close()
			return db.View(func(tx *bolt.Tx) error {
				b := tx.Bucket([]byte("meta"))
				if b == nil {
					return errors.New("no meta bucket")
				}
				v := b.Get([]byte("consistent_index"))
				if len(v) != 8 {
					return errors.New("no consistent_index")
				}
				ci = binary.BigEndian.Uint64(v)
				return nil
			})
		})
		if rerr != nil {
			// The db's own damage is boltcheck's business.
			fmt.Printf("backend: consistent_index unreadable (%v); not judged\n", rerr)
			return nil
		}
	}
	if snapIndex <= ci {
		return nil
	}
	p := filepath.Join(snapDir, fmt.Sprintf("%016x.snap.db", snapIndex))
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("snapshot index %d > db consistent_index %d and no %s: etcd cannot recover the backend", snapIndex, ci, filepath.Base(p))
	}
	return nil
}
