//go:build etcd36

// etcd 3.6 (go.etcd.io/etcd/server/v3 3.6.x from etcd's modules, raft from
// go.etcd.io/raft/v3): the packages server/etcdserver/bootstrap.go calls
// (bootstrapBackend -> recoverSnapshot, bootstrapWALFromSnapshot ->
// openWALFromSnapshot).  Differences from 3.5 that matter here: the WAL
// lives in server/v3/storage/wal and wraps its errors (%w), so only
// errors.Is finds io.ErrUnexpectedEOF; custom v2 store content in the .snap
// is a start failure (storage.AssertNoV2StoreContent at the only default
// 3.6 accepts, write-only); membership's Recover reads the cluster version
// from the backend, not from the v2 store.
package main

import (
	"errors"
	"fmt"
	"io"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/pkg/v3/pbutil"
	"go.etcd.io/etcd/server/v3/config"
	"go.etcd.io/etcd/server/v3/etcdserver/api/snap"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v2store"
	serverstorage "go.etcd.io/etcd/server/v3/storage"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3"
	"go.uber.org/zap"
)

const (
	etcdSeries           = "3.6"
	snapFilesAtBoot      = true
	clusterVersionFromV2 = false // RaftCluster.UnsafeLoad: the backend (Finalize sets it first)
)

var lg = zap.NewNop()

func validSnapshotEntries(dir string) ([]walSnap, error) {
	ss, err := wal.ValidSnapshotEntries(lg, dir)
	out := make([]walSnap, len(ss))
	for i, s := range ss {
		out[i] = walSnap{Index: s.Index, Term: s.Term}
	}
	return out, err
}

func readSnap(path string) (*snapFile, error) {
	s, err := snap.Read(lg, path)
	if err != nil {
		return nil, err
	}
	return &snapFile{Index: s.Metadata.Index, Term: s.Metadata.Term, Data: s.Data}, nil
}

// recoverV2: recoverSnapshot's st.Recovery(snapshot.Data) (a panic there),
// then serverstorage.AssertNoV2StoreContent with the deprecation stage etcd
// 3.6 enforces (etcdmain/config.go: anything but write-only-skip-check
// becomes V2DeprDefault, write-only).
func recoverV2(data []byte) (string, string, error) {
	st := v2store.New("/0", "/1") // etcdserver's StoreClusterPrefix, StoreKeysPrefix
	if err := st.Recovery(data); err != nil {
		return "", "", fmt.Errorf("etcd panics: failed to recover from snapshot: %v", err)
	}
	if err := serverstorage.AssertNoV2StoreContent(lg, st, config.V2DeprDefault); err != nil {
		return "", "", fmt.Errorf("illegal v2store content: %v", err)
	}
	return "", "v2 store holds membership only", nil
}

func toPB(s walSnap) walpb.Snapshot { return walpb.Snapshot{Index: s.Index, Term: s.Term} }

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
	c = walContents{metadata: md, term: st.Term, vote: st.Vote, commit: st.Commit,
		emptyState: raft.IsEmptyHardState(st), entries: len(ents)}
	if len(ents) > 0 {
		c.lastIndex = ents[len(ents)-1].Index
	}
	return c, nil
}

func repairWAL(dir string) bool { return wal.Repair(lg, dir) }

// openWALFromSnapshot: errors.Is(err, io.ErrUnexpectedEOF).
func repairable(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }

func unmarshalMetadata(b []byte) (uint64, uint64) {
	var m etcdserverpb.Metadata
	pbutil.MustUnmarshal(&m, b)
	return m.NodeID, m.ClusterID
}
