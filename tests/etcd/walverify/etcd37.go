//go:build etcd37

// etcd 3.7 (go.etcd.io/etcd/server/v3 3.7.x from etcd's modules, raft from
// go.etcd.io/raft/v3): the packages server/etcdserver/bootstrap.go calls.
// Differences from 3.6 that matter here: the WAL, raft and snapshot types are
// protoc-gen-go (google.golang.org/protobuf) messages with optional fields,
// passed by pointer (wal.Open/OpenForRead/Verify take *walpb.Snapshot,
// ReadAll returns *raftpb.HardState and []*raftpb.Entry, the metadata is
// read with pbutil.MustUnmarshalMessage); recoverSnapshot no longer reads
// .snap files nor keeps a v2 store: its snapshot is the WAL's last valid
// snapshot record (the ConfState is then rebuilt from the backend's
// members), so snapFilesAtBoot is false and readSnap/recoverV2 are never
// called; ValidSnapshotEntries retries a scan that lost a file
// (os.ErrNotExist) up to 3 times.
package main

import (
	"errors"
	"fmt"
	"io"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/pkg/v3/pbutil"
	"go.etcd.io/etcd/server/v3/etcdserver/api/snap"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3"
	"go.uber.org/zap"
)

const (
	etcdSeries           = "3.7"
	snapFilesAtBoot      = false
	clusterVersionFromV2 = false // RaftCluster.UnsafeLoad: always the backend
)

var lg = zap.NewNop()

func validSnapshotEntries(dir string) ([]walSnap, error) {
	ss, err := wal.ValidSnapshotEntries(lg, dir)
	out := make([]walSnap, len(ss))
	for i, s := range ss {
		out[i] = walSnap{Index: s.GetIndex(), Term: s.GetTerm()}
	}
	return out, err
}

// readSnap is snap.Read, which etcd 3.7's start-up does not call.
func readSnap(path string) (*snapFile, error) {
	s, err := snap.Read(lg, path)
	if err != nil {
		return nil, err
	}
	return &snapFile{Index: s.GetMetadata().GetIndex(), Term: s.GetMetadata().GetTerm(), Data: s.GetData()}, nil
}

// recoverV2: 3.7 has no v2 store (main never calls this: no .snap is loaded).
func recoverV2(data []byte) (string, string, error) {
	return "", "etcd 3.7 keeps no v2 store", nil
}

// toPB is openWALFromSnapshot's walsnap: index and term set.
func toPB(s walSnap) *walpb.Snapshot {
	i, t := s.Index, s.Term
	return &walpb.Snapshot{Index: &i, Term: &t}
}

func verifyWAL(dir string, at walSnap) error {
	_, err := wal.Verify(lg, dir, toPB(at))
	return err
}

func readAllReadMode(dir string, at walSnap) error {
	w, err := wal.OpenForRead(lg, dir, toPB(at))
	if err != nil {
		return err
	}
	defer w.Close()
	_, _, _, err = w.ReadAll()
	return err
}

func readAllWriteMode(dir string, at walSnap) (walContents, error) {
	var c walContents
	w, err := wal.Open(lg, dir, toPB(at))
	if err != nil {
		return c, fmt.Errorf("%w: %v", errOpen, err)
	}
	defer w.Close()
	md, st, ents, err := w.ReadAll()
	if err != nil {
		return c, err
	}
	c = walContents{metadata: md, term: st.GetTerm(), vote: st.GetVote(), commit: st.GetCommit(),
		emptyState: raft.IsEmptyHardState(st), entries: len(ents)}
	if len(ents) > 0 {
		c.lastIndex = ents[len(ents)-1].GetIndex()
	}
	return c, nil
}

func repairWAL(dir string) bool { return wal.Repair(lg, dir) }

// openWALFromSnapshot: errors.Is(err, io.ErrUnexpectedEOF).
func repairable(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }

func unmarshalMetadata(b []byte) (uint64, uint64) {
	var m etcdserverpb.Metadata
	pbutil.MustUnmarshalMessage(&m, b)
	return m.GetNodeID(), m.GetClusterID()
}
