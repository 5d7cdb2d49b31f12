//go:build etcd34

// etcd 3.4 (Debian's go.etcd.io/etcd 3.4.23, GOPATH mode): the packages
// etcdserver/server.go NewServer and storage.go readWAL call.
package main

import (
	"fmt"
	"io"

	"go.etcd.io/etcd/etcdserver/api/snap"
	"go.etcd.io/etcd/etcdserver/api/v2store"
	"go.etcd.io/etcd/etcdserver/etcdserverpb"
	"go.etcd.io/etcd/pkg/pbutil"
	"go.etcd.io/etcd/raft"
	"go.etcd.io/etcd/wal"
	"go.etcd.io/etcd/wal/walpb"
	"go.uber.org/zap"
)

const (
	etcdSeries           = "3.4"
	snapFilesAtBoot      = true
	clusterVersionFromV2 = true // membership.RaftCluster.Recover: clusterVersionFromStore
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

// recoverV2: NewServer's st.Recovery(snapshot.Data) (a failure is a panic
// there).  The store's namespaces are etcdserver's StoreClusterPrefix and
// StoreKeysPrefix; Recovery replaces the whole tree anyway.
func recoverV2(data []byte) (string, string, error) {
	st := v2store.New("/0", "/1")
	if err := st.Recovery(data); err != nil {
		return "", "", fmt.Errorf("etcd panics: failed to recover from snapshot: %v", err)
	}
	return v2ClusterVersion(st)
}

func v2ClusterVersion(st v2store.Store) (string, string, error) {
	ev, err := st.Get("/0/version", false, false)
	if err != nil || ev.Node == nil || ev.Node.Value == nil {
		return "", "no cluster version in the v2 store", nil
	}
	return *ev.Node.Value, "cluster version " + *ev.Node.Value, nil
}

func toPB(s walSnap) walpb.Snapshot { return walpb.Snapshot{Index: s.Index, Term: s.Term} }

func verifyWAL(dir string, at walSnap) error { return wal.Verify(lg, dir, toPB(at)) }

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

// readWAL: `err != io.ErrUnexpectedEOF` (3.4's decoder returns it bare).
func repairable(err error) bool { return err == io.ErrUnexpectedEOF }

func unmarshalMetadata(b []byte) (uint64, uint64) {
	var m etcdserverpb.Metadata
	pbutil.MustUnmarshal(&m, b)
	return m.NodeID, m.ClusterID
}
