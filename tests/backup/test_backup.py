#!/usr/bin/env python3
"""test_backup.py - snapshots, stores, retention, schedule and restore,
against real etcd (Debian's 3.4.23) on loopback.

  test_backup.py --build BUILD_DIR --work DIR --npm DIR [--only A,B] [--quick]

Scenarios:
  roundtrip   save (zstd) to file://, restore into a new single-member
              cluster: every key, value, create/mod revision and version
              identical at the snapshot's revision; list and verify
  s3          an S3-compatible server (s3rver from npm behind a SigV4
              checking front): save, multipart (5 MiB parts), list, verify,
              restore; a wrong secret is refused and changes nothing
  stream      the snapshot stream cut in the middle, and a blob damaged
              (etcd's SHA-256 then differs): clear errors, nothing listed,
              no spool left, the previous snapshot kept
  damaged     a flipped byte in a stored snapshot: verify fails it (exit 1),
              restore takes the older good one
  disk        a store on a 3 MiB tmpfs (root only): the disk fills, a clear
              error, nothing partial listed, the previous one kept
  store       an S3 store that answers 500, then one that never answers
              (with --timeout): clear errors, the previous one kept
  retention   keep-last and keep-daily-days over snapshots of past days;
              the only verified snapshot is never deleted
  schedule    three pods with backup.enabled: one snapshot per slot (the
              leader's sidecar), then the leader's sidecar killed: the
              slot taken by another (fallback); POST /snapshot/full,
              GET /snapshot/latest, metrics
  autorestore one pod (single-member cluster): its db damaged, then its
              data dir wiped; each time the launcher's init restores the
              newest snapshot and etcd comes back with the data
  quorum      README's quorum-loss procedure on three members: restore one
              as a new cluster, the others join as learners through heal
"""

import argparse
import base64
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "heal"))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from cluster import Cluster, free_ports  # noqa: E402
from faults import Proxy, TcpRelay  # noqa: E402
from pods import Pods  # noqa: E402
from scenario import Failed, b64, check, etcd_at_least, log, run  # noqa: E402,F401

ARGS = None
ETCD = os.environ["EM_ETCD_BIN"]  # tests/lib/etcd-env.sh: the etcd under test
ETCDCTL = os.environ["EM_ETCDCTL_BIN"]
ETCDUTL = os.environ.get("EM_ETCDUTL_BIN", "")  # empty on 3.4
S3_KEY, S3_SECRET = "S3RVER", "etcd-medic-test-secret"


def medic(*args, env=None, timeout=120):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([ARGS.medic] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=e)
    return p


def work(name):
    d = os.path.join(ARGS.work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def listing(store, *extra, env=None):
    p = medic("snapshot", "list", "--from", store, "--json", *extra, env=env)
    check(p.returncode == 0, "list failed: %s" % p.stderr)
    return [json.loads(x) for x in p.stdout.splitlines() if x.strip()]


def save(c, store, *extra, env=None, ok=True):
    eps = ",".join(m.client_url for m in c.members if m.running())
    p = medic("snapshot", "save", "--endpoints", eps, "--to", store, "--json", *extra,
              env=env)
    if ok:
        check(p.returncode == 0, "save failed: %s" % p.stderr[-2000:])
        return json.loads(p.stdout)
    check(p.returncode == 1, "save should fail with 1, got %d: %s %s" % (
        p.returncode, p.stdout, p.stderr[-1000:]))
    return p.stderr


def full_dump(url, rev):
    """Every key with value, create/mod revision, version and lease at rev."""
    out, key = [], b"\0"
    while True:
        body = {"key": b64(key), "range_end": b64(b"\0"), "revision": str(rev),
                "limit": "1000", "serializable": True}
        req = urllib.request.Request(url + "/v3/kv/range", json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=30) as r:
            res = json.loads(r.read())
        kvs = res.get("kvs", [])
        for kv in kvs:
            out.append((kv["key"], kv.get("value", ""), kv.get("create_revision"),
                        kv.get("mod_revision"), kv.get("version"), kv.get("lease")))
        if not res.get("more"):
            return out
        key = base64.b64decode(kvs[-1]["key"]) + b"\0"


def revision(c):
    return int(c.any_call("/v3/kv/range", {"key": b64("x")})["header"]["revision"])


def history(c):
    """Writes that give keys several versions, deletes and a lease."""
    for i in range(50):
        c.any_call("/v3/kv/put", {"key": b64("/h/%d" % (i % 10)), "value": b64("v%d" % i)})
    for i in range(0, 10, 3):
        c.any_call("/v3/kv/deleterange", {"key": b64("/h/%d" % i)})
    lease = c.any_call("/v3/lease/grant", {"TTL": 3600})["ID"]
    c.any_call("/v3/kv/put", {"key": b64("/leased"), "value": b64("x"), "lease": lease})


class Restored:
    """etcd on a restored data dir, on ports of its own: the version under
    test, or the binary etcd names (tests/upgrade: another version's)."""

    def __init__(self, data_dir, name, peer, etcd=None):
        cport, = free_ports(1)
        self.url = "http://127.0.0.1:%d" % cport
        log_ = open(data_dir + ".log", "ab")
        self.p = subprocess.Popen([etcd or ETCD, "--name", name, "--data-dir", data_dir,
                                   "--listen-client-urls", self.url,
                                   "--advertise-client-urls", self.url,
                                   "--listen-peer-urls", peer,
                                   "--initial-advertise-peer-urls", peer,
                                   "--initial-cluster", "%s=%s" % (name, peer)],
                                  stdout=log_, stderr=log_)
        log_.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                req = urllib.request.Request(self.url + "/v3/maintenance/status", b"{}")
                with urllib.request.urlopen(req, timeout=2) as r:
                    if json.loads(r.read()).get("leader"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise Failed("restored etcd does not start: see %s.log" % data_dir)

    def close(self):
        self.p.kill()
        self.p.wait()


def restore_and_compare(c, store, m, d, env=None, extra=()):
    peer = "http://127.0.0.1:%d" % free_ports(1)[0]
    target = os.path.join(d, "restored")
    p = medic("snapshot", "restore", "--from", store, "--data-dir", target,
              "--name", "r1", "--initial-cluster", "r1=" + peer,
              "--initial-advertise-peer-urls", peer, *extra, env=env)
    check(p.returncode == 0, "restore failed: %s" % p.stderr[-2000:])
    check(os.path.isdir(os.path.join(target, "member", "wal")), "no WAL restored")
    check(not glob.glob(target + ".restore-*"), "restore left its temp dir")
    r = Restored(target, "r1", peer)
    try:
        want = full_dump(c.members[0].client_url, m["revision"])
        got = full_dump(r.url, m["revision"])
        check(len(want) > 100, "too few keys dumped: %d" % len(want))
        check(got == want, "restored data differs: %d keys vs %d" % (len(got), len(want)))
    finally:
        r.close()
    return len(want)


def db_status(path):
    """etcd's own tool's reading of a db file (etcdutl from 3.5; 3.6 removed
    etcdctl's snapshot status): its hash of every bucket's keys and values,
    revision, key count."""
    tool = ETCDUTL or ETCDCTL
    st = subprocess.run([tool, "snapshot", "status", path, "-w", "json"],
                        capture_output=True, text=True, env=dict(os.environ, ETCDCTL_API="3"))
    check(st.returncode == 0, "%s snapshot status %s: %s %s" % (tool, path, st.stdout, st.stderr))
    return json.loads(st.stdout)


def stored_db_status(d, meta):
    """db_status of a snapshot in the file store d/store, decompressed."""
    obj = os.path.join(d, "store", "snapshots", meta["id"], meta["object"])
    raw = os.path.join(d, "status-%s.db" % meta["id"])
    if meta["compression"] == "zstd":
        subprocess.run(["zstd", "-q", "-f", "-d", obj, "-o", raw], check=True)
    else:
        shutil.copyfile(obj, raw)
    try:
        return db_status(raw)
    finally:
        os.unlink(raw)


def no_spool(d):
    left = [f for f in glob.glob(os.path.join(d, "**", ".etcd-medic-spool-*"), recursive=True)]
    check(not left, "spool files left: %s" % left)


# ---- scenarios ----------------------------------------------------------------

def one_member(name, mb=2):
    d = work(name)
    c = Cluster(1, os.path.join(d, "cluster"), ARGS.medic)
    c.start_all()
    c.put_many(mb)
    history(c)
    return d, c


def scenario_roundtrip():
    d, c = one_member("roundtrip")
    try:
        store = "file://" + os.path.join(d, "store")
        m = save(c, store)
        check(m["revision"] == revision(c), "manifest revision %s, etcd at %s" % (
            m["revision"], revision(c)))
        check(m["compression"] == "zstd" and m["object_size"] < m["db_size"],
              "not compressed: %s" % m)
        n = restore_and_compare(c, store, m, d)
        log("restored %d keys at revision %d, identical" % (n, m["revision"]))
        ls = listing(store)
        check(len(ls) == 1 and ls[0]["state"] == "ok", "list: %s" % ls)
        p = medic("snapshot", "verify", "--from", store)
        check(p.returncode == 0 and "verified" in p.stdout, "verify: %s %s" % (p.stdout, p.stderr))
        # The file etcd's own tool reads: the object decompressed is one
        # (etcdutl from 3.5; 3.6 removed etcdctl's snapshot status).
        obj = glob.glob(os.path.join(d, "store", "snapshots", "*", "snapshot.db.zst"))[0]
        raw = os.path.join(d, "raw.db")
        subprocess.run(["zstd", "-q", "-d", obj, "-o", raw], check=True)
        st = db_status(raw)
        check(st["revision"] == m["revision"], "snapshot status: %s" % st)
        no_spool(d)
    finally:
        c.close()


class S3:
    """The S3 server of the tests (s3server.js: s3rver behind a SigV4 check)."""

    def __init__(self, d):
        self.dir = os.path.join(d, "s3data")
        os.makedirs(self.dir, exist_ok=True)
        env = dict(os.environ, NODE_PATH=os.path.join(ARGS.npm, "node_modules"))
        self.p = subprocess.Popen(["node", os.path.join(HERE, "s3server.js"), self.dir,
                                   S3_KEY, S3_SECRET], stdout=subprocess.PIPE,
                                  stderr=open(os.path.join(d, "s3server.log"), "ab"),
                                  env=env, text=True)
        line = self.p.stdout.readline()
        check(line.startswith("PORT "), "S3 server did not start: %r" % line)
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def env(self, secret=S3_SECRET):
        return {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": secret}

    def stats(self):
        with urllib.request.urlopen(self.url + "/_stats", timeout=5) as r:
            return json.loads(r.read())

    def close(self):
        self.p.terminate()
        self.p.wait(10)


def scenario_s3():
    d, c = one_member("s3", mb=12)
    s3 = S3(d)
    try:
        store, ep = "s3://backups/etcd/prod", ["--s3-endpoint", s3.url]
        m1 = save(c, store, *ep, env=s3.env())
        m2 = save(c, store, *ep, "--compression", "none", "--s3-part-size-mb", "5", env=s3.env())
        st = s3.stats()
        check(st["multipartParts"] >= 3 and st["completes"] >= 1,
              "no multipart upload of a %d-byte snapshot: %s" % (m2["object_size"], st))
        ls = listing(store, *ep, env=s3.env())
        check([x["id"] for x in ls] == [m1["id"], m2["id"]] and
              all(x["state"] == "ok" for x in ls), "list: %s" % ls)
        p = medic("snapshot", "verify", "--from", store, *ep, env=s3.env())
        check(p.returncode == 0 and p.stdout.count("verified") == 2, "verify: %s %s" % (
            p.stdout, p.stderr))
        restore_and_compare(c, store, m2, d, env=s3.env(), extra=ep)
        refused = st["refused"]
        err = save(c, store, *ep, env=s3.env("wrong-secret"), ok=False)
        check("SignatureDoesNotMatch" in err, "wrong secret: %s" % err[-500:])
        check("wrong-secret" not in err and S3_SECRET not in err, "a secret in the log")
        check(s3.stats()["refused"] > refused, "the server refused nothing")
        check(len(listing(store, *ep, env=s3.env())) == 2, "a refused save is listed")
        p = medic("snapshot", "list", "--from", store, *ep, env=s3.env("wrong-secret"))
        check(p.returncode == 1 and "SignatureDoesNotMatch" in p.stderr,
              "list with a wrong secret: %s" % p.stderr)
        no_spool(d)
    finally:
        s3.close()
        c.close()


GATEWAY_FALLBACK = "no gRPC on this endpoint, through the JSON gateway"


def scenario_stream():
    """The snapshot stream cut or damaged on its way, in both framings:
    gRPC (a TCP relay) and the JSON gateway (an HTTP/1 proxy, which makes
    etcd-medic fall back to it)."""
    d, c = one_member("stream", mb=4)
    target = ("127.0.0.1", int(c.members[0].client_url.rsplit(":", 1)[1]))
    px, tcp = Proxy(target), TcpRelay(target)
    try:
        store = "file://" + os.path.join(d, "store")
        good = save(c, store)
        # Whole through each: gRPC through the relay, the gateway through
        # the HTTP/1 proxy, byte for byte the same db.
        via_grpc = medic("snapshot", "save", "--endpoints", tcp.url, "--to", store, "--json")
        check(via_grpc.returncode == 0 and GATEWAY_FALLBACK not in via_grpc.stderr,
              "through the relay: %s" % via_grpc.stderr[-800:])
        via_json = medic("snapshot", "save", "--endpoints", px.url, "--to", store, "--json")
        check(via_json.returncode == 0 and GATEWAY_FALLBACK in via_json.stderr,
              "through the HTTP/1 proxy: %s" % via_json.stderr[-800:])
        a, b = json.loads(via_grpc.stdout), json.loads(via_json.stdout)
        check(a["revision"] == b["revision"] == good["revision"],
              "gRPC and gateway snapshots differ: %s %s %s" % (a, b, good))
        # The same keyspace.  Byte for byte only on 3.4: from 3.5 etcd's
        # backend hooks write the consistent index into every commit, so
        # each snapshot's forced commit is a new bbolt transaction.
        sts = [stored_db_status(d, x) for x in (good, a, b)]
        check(sts[0] == sts[1] == sts[2], "gRPC and gateway snapshots differ: %s" % sts)
        if not etcd_at_least(3, 5, 0):
            check(a["db_sha256"] == b["db_sha256"] == good["db_sha256"],
                  "gRPC and gateway snapshots differ: %s %s %s" % (a, b, good))
        for i in (a["id"], b["id"]):
            shutil.rmtree(os.path.join(d, "store", "snapshots", i))
        # gRPC: cut, then one byte of its bytes flipped.
        tcp.mode, tcp.at = "cut", 1000000
        p = medic("snapshot", "save", "--endpoints", tcp.url, "--to", store)
        check(p.returncode == 1 and "stream ended after" in p.stderr and
              GATEWAY_FALLBACK not in p.stderr, "cut gRPC stream: %s" % p.stderr[-800:])
        tcp.mode = "flip"
        p = medic("snapshot", "save", "--endpoints", tcp.url, "--to", store)
        check(p.returncode == 1 and GATEWAY_FALLBACK not in p.stderr and
              any(x in p.stderr for x in ("SHA-256 differs", "stream ended after",
                                          "not a SnapshotResponse")),
              "damaged gRPC stream: %s" % p.stderr[-800:])
        log("damaged gRPC stream: %s" % p.stderr.strip().splitlines()[-1][-200:])
        # The gateway: cut, then a blob damaged.
        px.mode, px.cut_at = "cut", 1000000
        p = medic("snapshot", "save", "--endpoints", px.url, "--to", store)
        check(p.returncode == 1 and "stream ended after" in p.stderr,
              "cut stream: %s" % p.stderr[-800:])
        px.mode = "flip"
        p = medic("snapshot", "save", "--endpoints", px.url, "--to", store)
        check(p.returncode == 1 and "SHA-256 differs" in p.stderr,
              "damaged stream: %s" % p.stderr[-800:])
        ls = listing(store)
        check([x["id"] for x in ls] == [good["id"]], "list after failures: %s" % ls)
        no_spool(d)
        # A cut stream on one endpoint: the next endpoint gives it whole.
        px.mode = "cut"
        p = medic("snapshot", "save", "--endpoints", px.url + "," + c.members[0].client_url,
                  "--to", store)
        check(p.returncode == 0, "failover after a cut: %s" % p.stderr[-800:])
        check(len(listing(store)) == 2, "the failover's snapshot is not listed")
    finally:
        px.close()
        tcp.close()
        c.close()


def scenario_damaged():
    d, c = one_member("damaged")
    try:
        store = "file://" + os.path.join(d, "store")
        old = save(c, store)
        c.any_call("/v3/kv/put", {"key": b64("/after"), "value": b64("1")})
        new = save(c, store)
        obj = glob.glob(os.path.join(d, "store", "snapshots", new["id"], "snapshot.db.zst"))[0]
        with open(obj, "r+b") as f:
            f.seek(os.path.getsize(obj) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x40]))
        p = medic("snapshot", "verify", "--from", store)
        check(p.returncode == 1, "verify passed a damaged snapshot: %s" % p.stdout)
        lines = p.stdout.splitlines()
        check(any(new["id"] in x and "damaged" in x for x in lines) and
              any(old["id"] in x and "verified" in x for x in lines), "verify: %s" % p.stdout)
        n = restore_and_compare(c, store, old, d)
        log("the damaged newest skipped: restored %d keys of %s" % (n, old["id"]))
    finally:
        c.close()


def scenario_disk():
    if os.geteuid() != 0:
        log("skipped: a tmpfs needs root")
        return
    d, c = one_member("disk", mb=1)
    mnt = os.path.join(d, "tmpfs")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt], check=True)
    try:
        store = "file://" + mnt
        good = save(c, store, "--compression", "none")
        c.put_many(4, prefix="/more/")
        err = save(c, store, "--compression", "none", ok=False)
        check("No space left on device" in err, "full disk: %s" % err[-800:])
        ls = listing(store)
        check([x["id"] for x in ls] == [good["id"]] and ls[0]["state"] == "ok",
              "list after a full disk: %s" % ls)
        no_spool(mnt)
        p = medic("snapshot", "verify", "--from", store, "--spool-dir", d)
        check(p.returncode == 0, "the previous snapshot no longer verifies: %s" % p.stdout)
    finally:
        subprocess.run(["umount", "-l", mnt])
        c.close()


def scenario_store():
    d, c = one_member("store")
    s3 = S3(d)
    px = Proxy(("127.0.0.1", s3.port))
    try:
        store, ep = "s3://backups/x", ["--s3-endpoint", px.url]
        good = save(c, store, *ep, env=s3.env())
        px.mode = "500"
        t0 = time.time()
        err = save(c, store, *ep, env=s3.env(), ok=False)
        check("HTTP 500 InternalError" in err, "500: %s" % err[-800:])
        log("store answering 500: failed in %.1f s after retries" % (time.time() - t0))
        px.mode = "hang"
        t0 = time.time()
        err = save(c, store, *ep, "--timeout", "4s", env=s3.env(), ok=False)
        took = time.time() - t0
        check(took < 15 and ("timed out" in err.lower() or "time limit" in err),
              "hang: %.1f s: %s" % (took, err[-800:]))
        log("store that hangs: failed in %.1f s (--timeout 4s)" % took)
        px.mode = "pass"
        ls = listing(store, *ep, env=s3.env())
        check([x["id"] for x in ls] == [good["id"]], "list: %s" % ls)
        no_spool(d)
    finally:
        px.close()
        s3.close()
        c.close()


def fake_past(store_dir, src_id, when):
    """A copy of snapshot src_id as if taken at unix time when."""
    t = time.gmtime(when)
    nid = time.strftime("%Y%m%dT%H%M%S", t) + ".000Z"
    src = os.path.join(store_dir, "snapshots", src_id)
    dst = os.path.join(store_dir, "snapshots", nid)
    shutil.copytree(src, dst)
    mf = os.path.join(dst, "manifest.json")
    with open(mf) as f:
        m = json.load(f)
    m["id"], m["created_ms"] = nid, int(when) * 1000
    m["created"] = time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".000Z"
    with open(mf, "w") as f:
        json.dump(m, f)
    return nid


def retention_oracle(entries, keep_last, keep_days, now_ms):
    """What retention must keep, from (id, created_ms) of OK snapshots."""
    keep, seen_days = set(), set()
    for i, (sid, t) in enumerate(sorted(entries, key=lambda e: e[0], reverse=True)):
        if i < keep_last:
            keep.add(sid)
        day = t // 86400000
        if keep_days and t > now_ms - keep_days * 86400000 and day not in seen_days:
            keep.add(sid)
            seen_days.add(day)
    return keep


def scenario_retention():
    d, c = one_member("retention", mb=1)
    try:
        sd = os.path.join(d, "store")
        store = "file://" + sd
        base = save(c, store)
        now = time.time()
        for k in range(1, 6):
            for h in (1, 5):
                fake_past(sd, base["id"], now - k * 86400 - h * 3600)
        # A crash's leftover (an object without a manifest) and a damaged
        # snapshot (a manifest that is not one): one removed, one kept.
        for sid, name, text in (("20200101T000000.000Z", "snapshot.db.zst", "partial"),
                                ("20200102T000000.000Z", "manifest.json", "{not json")):
            os.makedirs(os.path.join(sd, "snapshots", sid))
            with open(os.path.join(sd, "snapshots", sid, name), "w") as f:
                f.write(text)
        before = [(x["id"], json.load(open(os.path.join(sd, "snapshots", x["id"],
                                                          "manifest.json")))["created_ms"])
                  for x in listing(store) if x["state"] == "ok"]
        m = save(c, store, "--keep-last", "2", "--keep-daily-days", "3")
        want = retention_oracle(before + [(m["id"], int(time.time() * 1000))], 2, 3,
                                int(time.time() * 1000))
        after = {x["id"]: x["state"] for x in listing(store)}
        check({k for k, v in after.items() if v == "ok"} == want,
              "kept %s, want %s" % (sorted(after), sorted(want)))
        check(after.get("20200102T000000.000Z") == "damaged", "the damaged one: %s" % after)
        check("20200101T000000.000Z" not in after, "the leftover was kept")
        log("retention kept %d of %d: %s" % (len(want), len(before) + 1, sorted(want)))
    finally:
        c.close()


def sidecar_backup_config(pods, store, extra):
    for p in pods.pods:
        m = p.m
        port = int(p.sidecar_url.rsplit(":", 1)[1])
        m.write_medic_config([x.client_url for x in pods.c.members],
                             extra=["listen: 127.0.0.1:%d" % port,
                                    "watch:", "  interval: 1s",
                                    "backup:", "  store: %s" % store] +
                             ["  %s" % x for x in extra],
                             **{"promote-timeout": "300s"})


def last_key(c):
    r = c.any_call("/v3/kv/range", {"key": b64("/etcd-medic/backup-lock/last")})
    kvs = r.get("kvs", [])
    return json.loads(base64.b64decode(kvs[0]["value"])) if kvs else None


def leader_pod(pods):
    for p in pods.pods:
        s = pods.c.status(p.m)
        if s and s.get("leader") and s["leader"] == s["header"]["member_id"]:
            return p
    raise Failed("no leader")


def wait_for(what, fn, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.3)
    raise Failed("%s: not within %ss" % (what, timeout))


def scenario_schedule():
    d = work("schedule")
    pods = Pods(3, os.path.join(d, "pods"), ARGS.build)
    sd = os.path.join(d, "store")
    sidecar_backup_config(pods, "file://" + sd, ["enabled: true", "interval: 4s",
                                                 "keep-last: 50", "compression: none"])
    try:
        pods.start()
        pods.voters_ready(120)
        pods.c.put_many(1)
        first = wait_for("a scheduled snapshot", lambda: last_key(pods.c), 20)
        time.sleep(9)
        last = last_key(pods.c)
        ids = sorted(os.listdir(os.path.join(sd, "snapshots")))
        slots = (last["slot"] - first["slot"]) // 4 + 1
        log("%d snapshots for %d slots, by %s" % (len(ids), slots, last["by"]))
        check(last["by"] == "leader", "slot taken by %s" % last)
        check(slots - 1 <= len(ids) <= slots + 1, "%d snapshots for %d slots: %s" % (
            len(ids), slots, ids))
        # The leader's sidecar dies: another takes the next slots.
        lp = leader_pod(pods)
        lp.sidecar.kill()
        lp.sidecar.wait()
        n_before = len(os.listdir(os.path.join(sd, "snapshots")))
        fb = wait_for("a slot taken over", lambda: (lambda x: x if x and x["by"] == "fallback"
                                                   else None)(last_key(pods.c)), 20)
        check(fb["slot"] > last["slot"], "fallback slot %s" % fb)
        check(len(os.listdir(os.path.join(sd, "snapshots"))) > n_before, "no new snapshot")
        # Every live sidecar learns of the newest snapshot, whoever took it
        # (the one that lost the claim looks again within a grace period).
        for other in [p for p in pods.pods if p is not lp]:
            latest = wait_for("/snapshot/latest of %s" % other.name, lambda: (
                lambda j: j if j.get("latest", {}).get("id") in
                os.listdir(os.path.join(sd, "snapshots")) else None)(
                json.loads(other.http("/snapshot/latest")[1])), 15)
            check(latest["latest"]["revision"] > 0, "/snapshot/latest: %s" % latest)
        other = [p for p in pods.pods if p is not lp][0]
        time.sleep(1)
        before = set(os.listdir(os.path.join(sd, "snapshots")))
        code, body = other.http("/snapshot/full", method="POST")
        check(code in (202, 409), "POST /snapshot/full: %s %s" % (code, body))
        if code == 409:
            time.sleep(3)
            code, body = other.http("/snapshot/full", method="POST")
        check(code == 202, "POST /snapshot/full: %s %s" % (code, body))
        wait_for("the requested snapshot", lambda: set(os.listdir(
            os.path.join(sd, "snapshots"))) - before, 20)
        code, body = other.http("/snapshot/full", method="GET")
        check(code == 405, "GET /snapshot/full: %s" % code)
        code, metrics = other.http("/metrics")
        for name in ("etcd_medic_backups_total{result=\"ok\"}",
                     "etcd_medic_backup_last_success_timestamp_seconds",
                     "etcd_medic_backup_last_duration_seconds",
                     "etcd_medic_backup_last_size_bytes{kind=\"db\"}"):
            check(name in metrics, "%s not in /metrics" % name)
        p = medic("snapshot", "verify", "--from", "file://" + sd)
        check(p.returncode == 0, "verify: %s" % p.stdout)
    finally:
        pods.close()


def scenario_autorestore():
    d = work("autorestore")
    pods = Pods(1, os.path.join(d, "pods"), ARGS.build)
    sd = os.path.join(d, "store")
    sidecar_backup_config(pods, "file://" + sd, [])
    pod, c = pods.pods[0], pods.c
    try:
        pods.start()
        c.put_many(2)
        history(c)
        code, _ = pod.http("/snapshot/full", method="POST")
        check(code == 202, "POST /snapshot/full: %s" % code)
        snap = wait_for("the snapshot", lambda: (lambda j: j.get("latest"))(
            json.loads(pod.http("/snapshot/latest")[1])), 30)
        rev = snap["revision"]
        want = full_dump(c.members[0].client_url, rev)
        c.any_call("/v3/kv/put", {"key": b64("/lost"), "value": b64("after the snapshot")})
        for how in ("corrupt", "empty"):
            pod.kill_etcd(hold=True)
            if how == "corrupt":
                c.damage_db(c.members[0])
            else:
                shutil.rmtree(c.members[0].data_dir)
                os.makedirs(c.members[0].data_dir, 0o700)
            t0 = time.time()
            pod.release()
            c.wait_healthy(c.members, 60)
            log("%s data dir: etcd back from the snapshot in %.1f s" % (how, time.time() - t0))
            got = full_dump(c.members[0].client_url, rev)
            check(got == want, "restored data differs (%s)" % how)
            st = pod.status()
            check("restored from snapshot" in json.dumps(st), "status: %s" % st)
            q = glob.glob(os.path.join(os.path.dirname(c.members[0].data_dir), "*.quarantine.*"))
            check(bool(q) == True, "the corrupt data dir was not kept: %s" % q)  # noqa: E712
    finally:
        pods.close()


def scenario_quorum():
    d = work("quorum")
    c = Cluster(3, os.path.join(d, "cluster"), ARGS.medic)
    try:
        c.start_all()
        c.put_many(2)
        history(c)
        store = "file://" + os.path.join(d, "store")
        m = save(c, store)
        want = full_dump(c.members[0].client_url, m["revision"])
        # Two members lost: no quorum, the third cannot be healed from.
        for x in c.members:
            x.kill9()
        for x in c.members[1:]:
            shutil.rmtree(x.data_dir)
        # README: 1. one member restored as a new single-member cluster.
        m0 = c.members[0]
        os.rename(m0.data_dir, m0.data_dir + ".old")
        p = medic("snapshot", "restore", "--from", store, "--data-dir", m0.data_dir,
                  "--name", m0.name, "--initial-cluster", "%s=%s" % (m0.name, m0.peer_url),
                  "--initial-advertise-peer-urls", m0.peer_url,
                  "--initial-cluster-token", "restored")
        check(p.returncode == 0, "restore: %s" % p.stderr[-1000:])
        m0.start()
        c.wait_healthy([m0], 30)
        # 2. each other member, data dir empty, joins as a learner through
        # heal (what its sidecar does when its container starts).
        for x in c.members[1:]:
            os.makedirs(x.data_dir, 0o700, exist_ok=True)
            rc, out, err = x.heal()
            check(rc == 0, "heal %s: %s" % (x.name, err[-1500:]))
            cfg = os.path.join(x.dir, "etcd.rendered.yaml")
            with open(cfg, "w") as f:
                f.write(out)
            x.start(cfg)
            r = x.heal_args(["--promote"])
            check(r.returncode == 0, "promote %s: %s" % (x.name, r.stderr[-1500:]))
        ms = c.member_list()
        check(len(ms) == 3 and not any(x.get("isLearner") for x in ms), "members: %s" % ms)
        c.wait_healthy(c.members, 30)
        for x in c.members:
            got = full_dump(x.client_url, m["revision"])
            check(got == want, "%s: data differs after the procedure" % x.name)
        c.any_call("/v3/kv/put", {"key": b64("/after-restore"), "value": b64("ok")})
    finally:
        c.close()


SCENARIOS = {
    "roundtrip": scenario_roundtrip, "s3": scenario_s3, "stream": scenario_stream,
    "damaged": scenario_damaged, "disk": scenario_disk, "store": scenario_store,
    "retention": scenario_retention, "schedule": scenario_schedule,
    "autorestore": scenario_autorestore, "quorum": scenario_quorum,
}
QUICK = ["roundtrip", "s3", "stream", "autorestore"]


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--npm", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--quick", action="store_true")
    ARGS = ap.parse_args()
    ARGS.medic = os.path.join(ARGS.build, "src", "etcd-medic")
    names = ARGS.only.split(",") if ARGS.only else (QUICK if ARGS.quick else list(SCENARIOS))
    os.makedirs(ARGS.work, exist_ok=True)
    return run(SCENARIOS, names, ARGS.work)


if __name__ == "__main__":
    sys.exit(main())
