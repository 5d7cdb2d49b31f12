//go:build etcd35

// etcd 3.5 (go.etcd.io/etcd/server/v3 3.5.x from etcd's modules): the
// packages server/etcdserver/server.go NewServer and storage.go readWAL call.
// Differences from 3.4 that matter here: wal.Verify also returns the
// HardState; readWAL repairs on errors.Is(err, io.ErrUnexpectedEOF), and the
// decoder now returns a wrapped io.ErrUnexpectedEOF for a record length past
// the end of its file (3.4: ErrMaxWALEntrySizeLimitExceeded from 10 MiB);
// custom v2 store content only draws a warning (assertNoV2StoreContent at
// the default --v2-deprecation=not-yet).
package main

import (
	"errors"
	"fmt"
	"io"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/pkg/v3/pbutil"
	"go.etcd.io/etcd/raft/v3"
	"go.etcd.io/etcd/server/v3/etcdserver/api/membership"
	"go.etcd.io/etcd/server/v3/etcdserver/api/snap"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v2store"
	"go.etcd.io/etcd/server/v3/wal"
	"go.etcd.io/etcd/server/v3/wal/walpb"
	"go.uber.org/zap"
)

const (
	etcdSeries           = "3.5"
	snapFilesAtBoot      = true
	clusterVersionFromV2 = true // RaftCluster.Recover: the v2 store when set, as NewServer sets it
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

// recoverV2: NewServer's st.Recovery(snapshot.Data) (a panic there), then
// assertNoV2StoreContent, which at 3.5's default deprecation stage
// (not-yet) only warns.
func recoverV2(data []byte) (string, string, error) {
	st := v2store.New("/0", "/1") // etcdserver's StoreClusterPrefix, StoreKeysPrefix
	if err := st.Recovery(data); err != nil {
		return "", "", fmt.Errorf("etcd panics: failed to recover from snapshot: %v", err)
	}
	v, note, _ := v2ClusterVersion(st)
	metaOnly, err := membership.IsMetaStoreOnly(st)
	if err != nil {
		return "", "", fmt.Errorf("illegal v2store content: %v", err)
	}
	if !metaOnly {
		note += "; custom v2 content (etcd 3.5 warns)"
	}
	return v, note, nil
}

func v2ClusterVersion(st v2store.Store) (string, string, error) {
	ev, err := st.Get("/0/version", false, false)
	if err != nil || ev.Node == nil || ev.Node.Value == nil {
		return "", "no cluster version in the v2 store", nil
	}
	return *ev.Node.Value, "cluster version " + *ev.Node.Value, nil
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

// readWAL: errors.Is(err, io.ErrUnexpectedEOF).
func repairable(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }

func unmarshalMetadata(b []byte) (uint64, uint64) {
	var m etcdserverpb.Metadata
	pbutil.MustUnmarshal(&m, b)
	return m.NodeID, m.ClusterID
}
