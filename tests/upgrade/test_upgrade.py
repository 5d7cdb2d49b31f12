#!/usr/bin/env python3
"""test_upgrade.py - an etcd upgrade in flight, as users do it: one member at
a time, and etcd-medic's heal and restore while versions are mixed.

  test_upgrade.py --medic BIN --work DIR --from DIR --to DIR [--only A,B]

FROM and TO are dirs of tests/etcd/install.sh (run.sh: the series just
before the default of tests/etcd/versions, and the default).

Scenarios:
  rolling   three members on FROM with data and a writer writing all along;
            moved to TO one at a time (stopped, started on the same data dir
            with TO's etcd, healthy and caught up before the next). After
            the first: a member still on FROM gets a damaged db and is
            healed (replaced as a learner, started again with its own
            version FROM, promoted); then the member already on TO is
            damaged and healed (it rejoins on TO with an empty data dir
            while the cluster version is still FROM's). Each gets its data
            as a db snapshot from a leader of the other version (the
            leadership moved there; a small snapshot-count, so that the
            leader's raft log no longer starts at 1). Then the rest are
            upgraded: every member reports TO's cluster version, all hold
            the same data, every acknowledged write is readable, never more
            than one learner
  snapshot  `etcd-medic snapshot save` from a FROM cluster to a file://
            store, `snapshot restore` with TO's etcdutl first on PATH, a
            single TO member started on it: every key, value, create and mod
            revision, version and lease equal to what the FROM cluster
            served at the snapshot's revision
  v2content a FROM member with a key in its v2 store: validate notes that
            TO refuses it; FROM starts on it, TO refuses it
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
for sub in ("lib", "heal", "e2e", "backup"):
    sys.path.insert(0, os.path.join(HERE, "..", sub))
import test_backup  # noqa: E402
from cluster import Cluster, free_ports  # noqa: E402
from scenario import b64, check, gw_error, log, run  # noqa: E402
from test_backup import Restored, full_dump, history, save  # noqa: E402
from test_e2e import Writer  # noqa: E402
from test_heal import Watch, replace, same_data  # noqa: E402

ARGS = None
SNAPSHOT_COUNT = 100


class Etcd:
    """One version's dir of tests/etcd/install.sh."""

    def __init__(self, d):
        self.dir = d
        self.etcd = os.path.join(d, "etcd")
        self.etcdutl = os.path.join(d, "etcdutl")
        with open(os.path.join(d, "version")) as f:
            self.version = f.read().strip()
        # what GET /version says as etcdcluster once all members run it
        self.cluster_version = ".".join(self.version.split(".")[:2]) + ".0"


FROM = TO = None


def versions(url):
    """etcd's GET /version: {"etcdserver": ..., "etcdcluster": ...}."""
    with urllib.request.urlopen(url + "/version", timeout=5) as r:
        return json.loads(r.read())


def new_cluster(name, n, etcd, **kw):
    work = os.path.join(ARGS.work, name)
    shutil.rmtree(work, ignore_errors=True)
    c = Cluster(n, work, ARGS.medic, **kw)
    for m in c.members:
        m.etcd = etcd.etcd
    try:
        c.start_all()
    except BaseException:
        c.close()
        raise
    return c


def wait_caught_up(c, m, timeout=60):
    """m has applied a write made after this call began."""
    r = c.any_call("/v3/kv/put", {"key": b64("/upgrade/mark"), "value": b64(m.name)})
    rev = int(r["header"]["revision"])
    deadline = time.time() + timeout
    while True:
        st = c.status(m)
        if st and int(st.get("header", {}).get("revision", 0)) >= rev:
            return
        check(time.time() < deadline, "%s did not reach revision %d" % (m.name, rev))
        time.sleep(0.2)


def leader(c):
    for m in c.members:
        st = c.status(m) if m.running() else None
        if st and st.get("leader") and st["leader"] == st["header"]["member_id"]:
            return m
    return None


def lead(c, m, timeout=30):
    """Moves the leadership to m (etcd's MoveLeader, asked of the leader)."""
    deadline = time.time() + timeout
    while leader(c) is not m:
        check(time.time() < deadline, "%s did not become the leader" % m.name)
        ld = leader(c)
        if ld is not None:
            r = c.call(ld.client_url, "/v3/maintenance/transfer-leadership",
                       {"targetID": member_id(c, m.name)}, timeout=10)
            if gw_error(r) is not None:
                log("  moving the leadership to %s: %s" % (m.name, gw_error(r)))
        time.sleep(0.3)


def member_id(c, name):
    ids = [x["ID"] for x in c.member_list() if x.get("name") == name]
    return ids[0] if ids else None


def runs(c, m, etcd):
    """m answers as etcd's version, and is caught up."""
    c.wait_healthy([m], timeout=60)
    wait_caught_up(c, m)
    got = versions(m.client_url)
    check(got.get("etcdserver") == etcd.version, "%s runs %s, wanted %s" % (
        m.name, got, etcd.version))
    return got


def cluster_versions(c):
    return {m.name: versions(m.client_url).get("etcdcluster")
            for m in c.members if m.running()}


def upgrade(c, m):
    """The user's step: stop, start the same data dir with TO's etcd."""
    t0 = time.time()
    m.stop()
    m.etcd = TO.etcd
    m.start()
    got = runs(c, m, TO)
    log("  %s upgraded to %s in %.1f s (cluster version %s)" % (
        m.name, TO.version, time.time() - t0, got.get("etcdcluster")))


def heal(c, m, etcd, via):
    """m's db damaged while it is down; heal replaces it, and it starts
    again with its own pod's version (etcd), as a learner, promoted.  The
    leader is via, whose raft log no longer starts at index 1 (restarted
    since a snapshot, or joined from one): the new learner gets the data as
    a new member of a long-lived cluster does, a db snapshot sent by the
    leader, here from the other version."""
    check(m.etcd == etcd.etcd, "%s does not run %s" % (m.name, etcd.version))
    lead(c, via)
    old = member_id(c, m.name)
    t0 = time.time()
    m.stop()
    page = c.damage_db(m)
    start = os.path.getsize(m.log)
    replace(c, m)
    new = member_id(c, m.name)
    check(old and new and old != new, "%s: member ID unchanged: %s -> %s" % (m.name, old, new))
    runs(c, m, etcd)
    with open(m.log, "rb") as f:
        f.seek(start)
        since = f.read().decode(errors="replace")
    check("received and saved database snapshot" in since,
          "%s did not get a db snapshot from the leader %s (see %s)" % (m.name, via.name, m.log))
    log("  %s (on %s): db damaged (page %d), replaced, a db snapshot from the leader %s "
        "(on %s), promoted in %.1f s" % (m.name, etcd.version, page, via.name,
                                         versions(via.client_url)["etcdserver"],
                                         time.time() - t0))


def sc_rolling():
    # A snapshot every SNAPSHOT_COUNT entries: a member restarted since
    # one keeps its raft log from there, as in any long-lived cluster.
    c = new_cluster("rolling", 3, FROM, snapshot_count=SNAPSHOT_COUNT)
    writer = watch = None
    try:
        c.put_many(ARGS.data_mb)
        for i in range(3 * SNAPSHOT_COUNT):
            c.any_call("/v3/kv/put", {"key": b64("/upgrade/k%d" % (i % 50)),
                                      "value": b64("v%d" % i)})
        writer, watch = Writer(c), Watch(c)
        m0, m1, m2 = c.members
        for m in c.members:
            runs(c, m, FROM)
        upgrade(c, m0)
        cv = cluster_versions(c)
        check(set(cv.values()) == {FROM.cluster_version},
              "cluster version with one member on %s: %s" % (TO.version, cv))
        heal(c, m1, FROM, via=m0)
        cv = cluster_versions(c)
        check(set(cv.values()) == {FROM.cluster_version},
              "cluster version before %s's heal: %s" % (m0.name, cv))
        heal(c, m0, TO, via=m1)
        for m in (m1, m2):
            upgrade(c, m)
        deadline = time.time() + 60
        while True:
            cv = cluster_versions(c)
            if set(cv.values()) == {TO.cluster_version}:
                break
            check(time.time() < deadline, "cluster version after the upgrade: %s" % cv)
            time.sleep(0.5)
        log("  every member: %s" % {m.name: versions(m.client_url) for m in c.members})
        writer.end()
        watch.end()
        same_data(c, c.members)
        writer.verify()
    finally:
        if writer:
            writer.stop = True
        if watch:
            watch.stop = True
        c.close()


def sc_snapshot():
    c = new_cluster("snapshot", 3, FROM)
    d = c.work
    try:
        c.put_many(4)
        history(c)
        store = "file://" + os.path.join(d, "store")
        m = save(c, store)
        check(m["etcd_version"] == FROM.version, "snapshot taken from etcd %s, wanted %s" % (
            m["etcd_version"], FROM.version))
        # written after the snapshot: not in it
        c.any_call("/v3/kv/put", {"key": b64("/after-snapshot"), "value": b64("x")})
        want = full_dump(c.members[0].client_url, m["revision"])
        check(len(want) > 100, "too few keys dumped: %d" % len(want))
        peer = "http://127.0.0.1:%d" % free_ports(1)[0]
        target = os.path.join(d, "restored")
        p = test_backup.medic("snapshot", "restore", "--from", store, "--data-dir", target,
                              "--name", "r1", "--initial-cluster", "r1=" + peer,
                              "--initial-advertise-peer-urls", peer,
                              env={"PATH": TO.dir + os.pathsep + os.environ["PATH"]})
        check(p.returncode == 0, "restore failed: %s" % p.stderr[-2000:])
        ran = [ln for ln in p.stderr.splitlines() if "restoring a snapshot with" in ln]
        check(len(ran) == 1 and TO.etcdutl in ran[0],
              "restore did not run %s: %s" % (TO.etcdutl, ran or p.stderr[-2000:]))
        r = Restored(target, "r1", peer, etcd=TO.etcd)
        try:
            v = versions(r.url)
            check((v.get("etcdserver"), v.get("etcdcluster")) == (
                TO.version, TO.cluster_version), "restored member: %s" % v)
            got = full_dump(r.url, m["revision"])
            check(got == want, "restored data differs: %d keys vs %d" % (len(got), len(want)))
            rr = json.loads(urllib.request.urlopen(urllib.request.Request(
                r.url + "/v3/kv/range", json.dumps({"key": b64("/after-snapshot")}).encode()),
                timeout=5).read())
            check(int(rr["header"]["revision"]) == m["revision"] and not rr.get("kvs"),
                  "restored member is not at the snapshot's revision %d: %s" % (
                      m["revision"], rr))
            log("  %s snapshot (revision %d, %d keys) restored by %s's etcdutl, served "
                "identically by etcd %s" % (FROM.version, m["revision"], len(want),
                                            TO.version, TO.version))
        finally:
            r.close()
    finally:
        c.close()


def sc_v2content():
    """A FROM member whose v2 store holds a key of its own (written through
    the v2 API, which 3.5 serves with enable-v2): `validate` calls the data
    dir healthy and notes that TO refuses it; FROM starts on it, TO does
    not, as the note says."""
    work = os.path.join(ARGS.work, "v2content")
    shutil.rmtree(work, ignore_errors=True)
    c = Cluster(1, work, ARGS.medic, snapshot_count=20)
    m = c.members[0]
    m.etcd = FROM.etcd
    with open(m.etcd_config, "a") as f:
        f.write("enable-v2: true\n")
    try:
        c.start_all()
        req = urllib.request.Request(m.client_url + "/v2/keys/app/config", b"value=v2-data",
                                     method="PUT")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(req, timeout=5) as r:
            check(r.status in (200, 201), "v2 put: HTTP %d" % r.status)
        for i in range(60):   # past snapshot-count: a .snap holding it
            c.any_call("/v3/kv/put", {"key": b64("/v3/%d" % i), "value": b64("x")})
        m.stop()
        p = test_backup.medic("validate", "--data-dir", m.data_dir, "--json")
        doc = json.loads(p.stdout)
        notes = [n.get("reason", "") for n in doc.get("notes", [])]
        check(p.returncode == 0 and doc["verdict"] == "healthy",
              "validate: %s %s" % (p.returncode, p.stdout[-800:]))
        check(any("etcd 3.6 refuses" in n and "/1/app" in n for n in notes),
              "no note of the v2 content: %s" % notes)
        # TO refuses, on a copy; FROM starts on the original.
        copy = m.data_dir + ".to"
        shutil.copytree(m.data_dir, copy)
        to_log = os.path.join(work, "to.log")
        with open(m.etcd_config) as f:
            cfg = f.read().replace(m.data_dir + "\n", copy + "\n")
        to_cfg = os.path.join(work, "to.yaml")
        with open(to_cfg, "w") as f:
            f.write(cfg)
        with open(to_log, "wb") as lf:
            proc = subprocess.Popen([TO.etcd, "--config-file", to_cfg], stdout=lf, stderr=lf)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = None
        with open(to_log, errors="replace") as f:
            text = f.read()
        check(rc not in (None, 0) and "detected disallowed custom content in v2store" in text,
              "etcd %s on v2 content: exit %s, log %s" % (TO.version, rc, text[-1500:]))
        m.start()
        c.wait_healthy([m], timeout=30)
        log("  v2 key /app/config: validate notes it, etcd %s starts, etcd %s refuses (exit %s)"
            % (FROM.version, TO.version, rc))
    finally:
        c.close()


SCENARIOS = {"rolling": sc_rolling, "snapshot": sc_snapshot, "v2content": sc_v2content}


def main():
    global ARGS, FROM, TO
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--medic", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--from", dest="from_dir", required=True)
    ap.add_argument("--to", dest="to_dir", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--data-mb", type=int, default=int(os.environ.get("UPGRADE_DATA_MB", "8")))
    ARGS = ap.parse_args()
    ARGS.medic = os.path.abspath(ARGS.medic)
    FROM, TO = Etcd(ARGS.from_dir), Etcd(ARGS.to_dir)
    test_backup.ARGS = ARGS   # its save() and medic() run ARGS.medic
    log("upgrade from etcd %s to %s" % (FROM.version, TO.version))
    names = ARGS.only.split(",") if ARGS.only else list(SCENARIOS)
    os.makedirs(ARGS.work, exist_ok=True)
    return run(SCENARIOS, names, ARGS.work)


if __name__ == "__main__":
    sys.exit(main())
