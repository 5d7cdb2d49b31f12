// walverify [--snap-dir DIR] [--db FILE] WALDIR: what one etcd release
// itself does with a member's WAL (and, given --snap-dir, its .snap files)
// when it restarts, as the reference the fixture matrix compares etcd-medic's
// wal and snap checkers with.
//
// One source for every etcd series the tests run (tests/etcd/versions):
// this file holds the logic; etcd34.go, etcd35.go, etcd36.go and etcd37.go
// (build tags etcd34 ... etcd37, exactly one per build) call that series'
// own packages (wal, snap, raftpb, v2store, pbutil) behind the few functions
// listed under "Per series" below.  tests/etcd/install.sh builds it for each
// version into that version's dir: for 3.4 in GOPATH mode from Debian's
// packaged sources (go.etcd.io/etcd 3.4.23, bbolt 1.3.6) with Debian's Go;
// for 3.5 and later from etcd's own Go modules at exactly the pinned version
// (tests/etcd/etcd-SERIES.mod and .sum), so the etcd, raft and bbolt code
// called here is the code that version of etcd runs.
//
// It runs what a restarting member does (3.4: etcdserver/server.go NewServer,
// storage.go readWAL, backend.go recoverSnapshotBackend; 3.5: the same files
// under server/etcdserver; 3.6 and 3.7: server/etcdserver/bootstrap.go
// bootstrap, recoverSnapshot, openWALFromSnapshot, Finalize, and raft's
// newRaft/loadState), without ever writing to the data dir:
//
//  1. ValidSnapshotEntries(WALDIR): every file from the first, CRC chain;
//     the snapshot records whose index the last HardState has committed.
//  2. The snapshot etcd starts from.  3.4 to 3.6 (snapFilesAtBoot): with
//     --snap-dir, the newest .snap that snap.Read accepts and whose term and
//     index are among those records (Snapshotter.LoadNewestAvailable, minus
//     its renaming of unreadable files to .broken); none: index 0.  3.7 reads
//     no .snap file at start: recoverSnapshot builds the snapshot from the
//     last record of step 1 (EtcdServer.snapshot still writes .snap files,
//     "for backward compatibility", but the server never reads them).
//     Without --snap-dir every series starts from the last record.
//  3. "v2store" (3.4 to 3.6, when a .snap was loaded): v2store Recovery of
//     the snapshot's data, which etcd panics on; 3.6 then refuses custom
//     (non-membership) v2 content (storage.AssertNoV2StoreContent at
//     --v2-deprecation's default, write-only, the only value 3.6 accepts
//     besides write-only-skip-check); 3.5 only warns about it (not-yet).
//     3.7 has no v2 store.
//  4. wal.Verify at the start snapshot (a cross-check; etcd does not call it
//     at start).
//  5. OpenForRead + ReadAll (read mode, as etcd's tools read it).
//  6. "startup": on a private copy of the files etcd would open (in TMPDIR),
//     wal.Open (write mode) + ReadAll, wal.Repair once on io.ErrUnexpectedEOF
//     (3.4 compares the error with ==; 3.5 on use errors.Is, because their
//     decoders may wrap it, 3.6 on always: from 3.5 on a record length
//     running past the end of its file is such a torn write, to be repaired
//     by cutting the file there; 3.4 says ErrMaxWALEntrySizeLimitExceeded,
//     not repaired, from 10 MiB on), the WAL metadata unmarshalled as etcd
//     does (it panics on bad metadata), then raft's check that
//     HardState.Commit lies within [snapshot index, last index] (raft.go
//     loadState, the same in the raft of all four series;
//     raft.IsEmptyHardState skips it).
//  7. With --db, "backend": the db against the snapshot, as recoverSnapshot
//     / recoverSnapshotBackend do: a db whose consistent_index is below the
//     snapshot index is replaced by <index>.snap.db, which must exist; the
//     db then in use must not be behind the snapshot unless its index is 0
//     ("consistent index never saved"); a missing db counts as index 0, and
//     when the db was missing, a cluster version >= 3.0 means etcd refuses
//     to start ("database file ... of the backend is missing"), taken from
//     the v2 store of the .snap in 3.4 and 3.5 and from the backend now in
//     use in 3.6 and 3.7 (membership's Recover / UnsafeLoad).
//
// Not reproduced: 3.6/3.7's schema.Validate of the db's storage version and
// 3.7's ConfState rebuilt from the db's members bucket (the db is
// boltcheck's and etcd-medic's business; raft's commit-index check does not
// depend on the ConfState), and everything that needs the network.
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
)

// Per series (etcd3X.go), each calling that version's own packages:
//
//	etcdSeries                  "3.4" ... "3.7"
//	snapFilesAtBoot             whether start-up reads the .snap files
//	clusterVersionFromV2        where membership's Recover finds the cluster
//	                            version: the v2 store (3.4, 3.5) or the backend
//	validSnapshotEntries(dir)   wal.ValidSnapshotEntries
//	readSnap(path)              snap.Read
//	recoverV2(data)             v2store.New + Recovery (+ 3.6's assert);
//	                            the cluster version it holds
//	verifyWAL(dir, at)          wal.Verify
//	readAllReadMode(dir, at)    wal.OpenForRead + ReadAll
//	readAllWriteMode(dir, at)   wal.Open + ReadAll, converted to walContents
//	repairWAL(dir)              wal.Repair
//	repairable(err)             readWAL's test for io.ErrUnexpectedEOF
//	unmarshalMetadata(b)        pbutil.MustUnmarshal(&etcdserverpb.Metadata)

// walSnap is a snapshot record of the WAL (walpb.Snapshot's index and term).
type walSnap struct{ Index, Term uint64 }

// snapFile is what start-up uses of a .snap file (raftpb.Snapshot).
type snapFile struct {
	Index, Term uint64
	Data        []byte
}

// walContents is what ReadAll returned in write mode.
type walContents struct {
	metadata           []byte
	term, vote, commit uint64
	emptyState         bool // raft.IsEmptyHardState
	entries            int
	lastIndex          uint64 // of the last entry, if any
}

var (
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
		fmt.Fprintf(os.Stderr, "usage: walverify [--snap-dir DIR] [--db FILE] WALDIR  (etcd %s)\n", etcdSeries)
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
	fmt.Printf("etcd: %s start-up\n", etcdSeries)

	// 1. Every snapshot record, reading all files from the first.
	var walSnaps []walSnap
	err := guard(func() (e error) {
		walSnaps, e = validSnapshotEntries(walDir)
		return e
	})
	report("ValidSnapshotEntries", err, fmt.Sprintf("%d snapshot records", len(walSnaps)))
	if err != nil {
		finish()
	}

	// 2. The snapshot etcd would start from.
	start := walSnap{}
	haveSnap := false
	var loaded *snapFile
	if *snapDir != "" && snapFilesAtBoot {
		s, serr := newestAvailable(*snapDir, walSnaps)
		if serr != nil {
			report("snapshot", serr, "")
			finish()
		}
		if s != nil {
			start = walSnap{Index: s.Index, Term: s.Term}
			haveSnap = true
			loaded = s
		}
	} else if len(walSnaps) > 0 {
		if *snapDir != "" {
			fmt.Printf("snap: etcd %s reads no .snap file at start; it starts from the WAL's last snapshot record\n", etcdSeries)
		}
		start = walSnaps[len(walSnaps)-1]
		// 3.7's recoverSnapshot makes this its snapshot (and recovers the
		// backend against it); before 3.7 that needs a .snap (--snap-dir).
		haveSnap = !snapFilesAtBoot
	}
	fmt.Printf("start: term %d index %d\n", start.Term, start.Index)

	// 3. The v2 store of the loaded .snap (3.4 to 3.6).
	v2ClusterVersion := ""
	if loaded != nil {
		var note string
		err := guard(func() (e error) {
			v2ClusterVersion, note, e = recoverV2(loaded.Data)
			return e
		})
		report("v2store", err, note)
	}

	// 4. wal.Verify at the start snapshot.
	report("Verify", guard(func() error { return verifyWAL(walDir, start) }), "")

	// 5. Read mode, as tools read it.
	report("ReadAll(read)", guard(func() error { return readAllReadMode(walDir, start) }), "")

	// 6. Write mode on a private copy, as the server's start-up does.
	detail, err := startup(walDir, start)
	report("startup", err, detail)

	// 7. The db against the snapshot.
	if *dbPath != "" && haveSnap {
		snapDirOfDB := *snapDir
		if snapDirOfDB == "" {
			snapDirOfDB = filepath.Dir(*dbPath)
		}
		report("backend", checkBackend(*dbPath, snapDirOfDB, start.Index, v2ClusterVersion), "")
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

// newestAvailable is Snapshotter.LoadNewestAvailable (3.4 to 3.6) without
// the renames: the newest readable .snap whose term and index the WAL
// records.  nil, nil is etcd's ErrNoSnapshot, after which it starts from
// index 0.
func newestAvailable(dir string, walSnaps []walSnap) (*snapFile, error) {
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
		var s *snapFile
		rerr := guard(func() (e error) {
			s, e = readSnap(filepath.Join(dir, name))
			return e
		})
		if rerr != nil {
			fmt.Printf("snap %s: unreadable, etcd would rename it .broken: %v\n", name, rerr)
			continue
		}
		for i := len(walSnaps) - 1; i >= 0; i-- {
			if s.Term == walSnaps[i].Term && s.Index == walSnaps[i].Index {
				fmt.Printf("snap %s: loaded (term %d index %d)\n", name, s.Term, s.Index)
				return s, nil
			}
		}
		fmt.Printf("snap %s: not recorded in the WAL, skipped\n", name)
	}
	fmt.Println("snap: no usable .snap; etcd starts from index 0")
	return nil, nil
}

type walFile struct {
	name       string
	seq, index uint64
}

// filesFrom lists the .wal files etcd would open at start (the last whose
// index <= start.Index, and all after it), or all of them when none
// qualifies, so that wal.Open reports the same error on the copy.
func filesFrom(walDir string, start walSnap) ([]walFile, error) {
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

// startup is the server's reading of the WAL (readWAL, 3.6/3.7's
// openWALFromSnapshot) on a copy, then raft's loadState check.
func startup(walDir string, start walSnap) (string, error) {
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

	var c walContents
	repaired := false
	for {
		err = guard(func() (e error) {
			c, e = readAllWriteMode(tmp, start)
			return e
		})
		if err == nil {
			break
		}
		if errors.Is(err, errOpen) {
			return "", err
		}
		// we can only repair ErrUnexpectedEOF and we never repair twice.
		if repaired || !repairable(err) {
			return "", fmt.Errorf("read WAL, cannot be repaired: %v", err)
		}
		if !repairWAL(tmp) {
			return "", fmt.Errorf("repair WAL failed after: %v", err)
		}
		repaired = true
	}
	var node, cluster uint64
	if err := guard(func() (e error) { node, cluster = unmarshalMetadata(c.metadata); return nil }); err != nil {
		return "", fmt.Errorf("WAL metadata: %v", err)
	}

	// raft's newLog: committed = firstIndex-1 = the snapshot's index;
	// lastIndex: the last entry's, or the snapshot's.
	last := start.Index
	if c.entries > 0 {
		last = c.lastIndex
	}
	if !c.emptyState && (c.commit < start.Index || c.commit > last) {
		return "", fmt.Errorf("raft would panic: state.commit %d is out of range [%d, %d]", c.commit, start.Index, last)
	}
	detail := fmt.Sprintf("member %x of cluster %x, %d entries after the snapshot, last index %d, commit %d",
		node, cluster, c.entries, last, c.commit)
	if repaired {
		detail += "; repaired a torn tail (io.ErrUnexpectedEOF)"
	}
	return detail, nil
}

// errOpen marks wal.Open's failure (etcd: "failed to open WAL", fatal).
var errOpen = errors.New("open WAL")

// metaIndex reads what etcd reads of a db at start without changing it:
// meta/consistent_index (missing: 0, as cindex's UnsafeReadConsistentIndex
// and 3.4's mvcc ConsistentIndex say) and cluster/clusterVersion.
func metaIndex(path string) (ci uint64, clusterVersion string, err error) {
	err = guard(func() error {
		db, err := bolt.Open(path, 0400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error {
			if b := tx.Bucket([]byte("meta")); b != nil {
				if v := b.Get([]byte("consistent_index")); v != nil {
					if len(v) != 8 {
						return fmt.Errorf("consistent_index is %d bytes", len(v))
					}
					ci = binary.BigEndian.Uint64(v)
				}
			}
			if b := tx.Bucket([]byte("cluster")); b != nil {
				clusterVersion = string(b.Get([]byte("clusterVersion")))
			}
			return nil
		})
	})
	return ci, clusterVersion, err
}

// atLeast3 is !cl.Version().LessThan(semver.Version{Major: 3}).
func atLeast3(v string) bool {
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n >= 3
}

// checkBackend is recoverSnapshotBackend's test and what follows it (see
// step 7 in the header).
func checkBackend(dbPath, snapDir string, snapIndex uint64, v2ClusterVersion string) error {
	beExist := false
	ci, version := uint64(0), ""
	if _, err := os.Stat(dbPath); err == nil {
		beExist = true
		var rerr error
		if ci, version, rerr = metaIndex(dbPath); rerr != nil {
			// The db's own damage is boltcheck's business.
			fmt.Printf("backend: consistent_index unreadable (%v); not judged\n", rerr)
			return nil
		}
	}
	if snapIndex > ci {
		p := filepath.Join(snapDir, fmt.Sprintf("%016x.snap.db", snapIndex))
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("snapshot index %d > db consistent_index %d and no %s: etcd cannot recover the backend", snapIndex, ci, filepath.Base(p))
		}
		var rerr error
		if ci, version, rerr = metaIndex(p); rerr != nil {
			fmt.Printf("backend: %s unreadable (%v); not judged\n", filepath.Base(p), rerr)
			return nil
		}
		fmt.Printf("backend: etcd would replace the db by %s (consistent_index %d)\n", filepath.Base(p), ci)
	}
	if beExist && ci < snapIndex && ci != 0 {
		return fmt.Errorf("database file (index %d) does not match with snapshot (index %d)", ci, snapIndex)
	}
	if !beExist {
		if clusterVersionFromV2 {
			version = v2ClusterVersion
		}
		if atLeast3(version) {
			return fmt.Errorf("database file of the backend is missing (cluster version %s)", version)
		}
	}
	return nil
}
