#!/usr/bin/env python3
"""test_e2e.py - the whole loop, as in a pod: sidecar, launcher, etcd.

  test_e2e.py --build BUILD_DIR --work DIR [--only NAME[,NAME]]

Scenarios:
  heal       three members run as pods; a writer writes all along; one
             member is broken three ways in turn (a damaged db, a damaged
             WAL record, its member dir wiped), its etcd killed, and its
             container restarted by the supervisor: the launcher asks the
             sidecar, which replaces the member; the watch promotes it.
             Every acknowledged write is readable afterwards, the cluster
             accepted writes throughout, all members hold the same data.
  wrapper    the HTTP sequence of gardener's etcd-wrapper against serve:
             status New, GET start?mode=, status until Successful (reported
             once, then New again), GET /config
  http       bad input: wrong methods, bodies, bad modes, path tricks,
             many concurrent requests; nothing breaks, nothing destructive
             starts
  security   serve refuses to listen beyond loopback without a token or
             TLS; with a token, everything but the probes requires it
"""

import argparse
import base64
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from breakdb import break_key_root  # noqa: E402
from pods import Pods  # noqa: E402
from scenario import Failed, b64, check, log, run  # noqa: E402,F401

ARGS = None





class Writer:
    """Writes /writer/<n> without pause to whichever member answers and
    remembers every acknowledged write and the longest time without one."""

    def __init__(self, c):
        self.c, self.stop, self.acked, self.n = c, False, {}, 0
        self.last_ok, self.worst_gap = time.time(), 0.0
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            k, v = "/writer/%08d" % self.n, "v%d" % self.n
            for m in self.c.members:
                try:
                    r = self.c.call(m.client_url, "/v3/kv/put",
                                    {"key": b64(k), "value": b64(v)}, timeout=2)
                except (OSError, ValueError):
                    continue
                if "header" in r and "error" not in r:
                    self.acked[k] = v
                    now = time.time()
                    self.worst_gap = max(self.worst_gap, now - self.last_ok)
                    self.last_ok = now
                    break
            self.n += 1
            time.sleep(0.02)

    def end(self):
        self.stop = True
        self.t.join()

    def verify(self):
        missing = 0
        for k, v in self.acked.items():
            r = self.c.any_call("/v3/kv/range", {"key": b64(k)})
            kvs = r.get("kvs", [])
            if not kvs or base64.b64decode(kvs[0].get("value", "")).decode() != v:
                missing += 1
        check(missing == 0, "%d of %d acknowledged writes are missing" % (
            missing, len(self.acked)))
        log("  %d acknowledged writes all readable; longest time without a "
            "write: %.1f s" % (len(self.acked), self.worst_gap))


def break_wal(m):
    """Flips a byte inside a record in the middle of the newest WAL file
    (records follow it: not a torn tail)."""
    wal = sorted(glob.glob(os.path.join(m.data_dir, "member", "wal", "*.wal")))[-1]
    with open(wal, "r+b") as f:
        data = bytearray(f.read())
        off, frames = 0, []
        while off + 8 <= len(data):
            w = struct.unpack_from("<Q", data, off)[0]
            n = w & ((1 << 56) - 1)
            if n == 0:
                break
            pad = (w >> 56) & 7 if w >> 63 else 0
            frames.append((off, n))
            off += 8 + n + pad
        start, n = frames[len(frames) // 2]
        data[start + 8 + n // 2] ^= 0x40
        f.seek(0)
        f.write(data)
    return os.path.basename(wal)


def wipe(m):
    shutil.rmtree(os.path.join(m.data_dir, "member"))
    return "member dir removed"


def member_id(c, name):
    for x in c.member_list():
        if x.get("name") == name:
            return x["ID"]
    return None


def sc_heal():
    p = Pods(3, os.path.join(ARGS.work, "heal"), ARGS.build)
    try:
        p.start()
        c = p.c
        c.put_many(ARGS.data_mb)
        p.voters_ready(60)
        w = Writer(c)
        time.sleep(1)
        pod = p.pods[2]
        for what, breaker in (("db", lambda m: break_key_root(
                os.path.join(m.data_dir, "member", "snap", "db"))),
                ("wal", break_wal), ("wiped", wipe)):
            old = member_id(c, pod.name)
            t0 = time.time()
            pod.kill_etcd(hold=True)
            detail = breaker(pod.m)
            pod.release()
            log("  %s broken (%s), etcd killed; waiting for the heal" % (what, detail))
            deadline = time.time() + 240
            while member_id(c, pod.name) in (old, None) and time.time() < deadline:
                time.sleep(0.3)
            new = member_id(c, pod.name)
            check(new not in (old, None), "%s: member ID unchanged (%s): not replaced" % (
                what, old))
            p.voters_ready(240)
            st = pod.status()
            log("  %s: replaced and promoted in %.1f s (verdict %s, outcome %s)" % (
                what, time.time() - t0, st.get("verdict"), st.get("outcome")))
            if what != "wiped":
                check(st.get("verdict") == "corrupt", "%s: verdict %s" % (what, st.get("verdict")))
        check(len(glob.glob(pod.m.data_dir + ".quarantine.*")) == 2,
              "two quarantined data dirs expected (db, wal)")
        time.sleep(1)
        w.end()
        check(w.worst_gap < 15, "the cluster stopped taking writes for %.1f s" % w.worst_gap)
        w.verify()
        r = c.any_call("/v3/kv/put", {"key": b64("/final"), "value": b64("x")})
        rev = int(r["header"]["revision"])
        time.sleep(1)
        dumps = {m.name: c.dump(m, rev) for m in c.members}
        check(len(set(dumps.values())) == 1, "data differs: %s" % dumps)
        log("  same data on all members at revision %d" % rev)
    finally:
        p.close()


def fresh_sidecar(name):
    """One pod's sidecar alone, its etcd never started: a new cluster."""
    p = Pods(1, os.path.join(ARGS.work, name), ARGS.build)
    p.pods[0].start_sidecar()
    pod = p.pods[0]
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if pod.http("/healthz")[0] == 200:
                return p, pod
        except OSError:
            time.sleep(0.1)
    p.close()
    raise Failed("sidecar does not answer")


def sc_wrapper():
    p, pod = fresh_sidecar("wrapper")
    try:
        code, body = pod.http("/initialization/status")
        check((code, body) == (200, "New"), "status: %s %r" % (code, body))
        code, _ = pod.http("/initialization/start?mode=full")
        check(code == 200, "GET start: %s" % code)
        deadline, seen = time.time() + 60, []
        while time.time() < deadline:
            code, body = pod.http("/initialization/status")
            seen.append(body)
            if body == "Successful":
                break
            check(body in ("Progress", "New"), "status %r" % body)
            time.sleep(0.2)
        check(seen[-1] == "Successful", "never Successful: %s" % seen[-5:])
        code, body = pod.http("/initialization/status")
        check(body == "New", "a terminal state is reported once: then %r" % body)
        code, body = pod.http("/config")
        check(code == 200 and "name: m0" in body and "enable-grpc-gateway: true" in body,
              "/config: %s %s" % (code, body[:300]))
        st = pod.status()
        check(st.get("mode") == "full" and st.get("verdict") == "empty",
              "status JSON: %s" % st)
        log("  wrapper sequence: New -> start -> %d polls -> Successful -> New; "
            "/config %d bytes" % (len(seen), len(body)))
    finally:
        p.close()


def sc_http():
    p, pod = fresh_sidecar("http")
    try:
        cases = [
            ("PUT", "/initialization/start?mode=full", 405),
            ("DELETE", "/config", 405),
            ("POST", "/config", 405),
            ("GET", "/initialization/start?mode=destroy", 400),
            ("GET", "/initialization/start?mode=", 400),
            ("GET", "/config/../config", 404),
            ("GET", "//config", 404),
            ("GET", "/CONFIG", 404),
            ("GET", "/config%00", 404),
            ("GET", "/nope", 404),
            ("GET", "/", 404),
        ]
        for method, path, want in cases:
            code, body = pod.http(path, method=method)
            check(code == want, "%s %s: %s, wanted %s (%s)" % (method, path, code, want, body[:100]))
            if want in (400, 404, 405):
                check(json.loads(body).get("error"), "%s %s: no JSON error" % (method, path))
        # a body is never needed, and a big one is refused
        req = urllib.request.Request(pod.sidecar_url + "/initialization/start?mode=full",
                                     data=b"x" * (4 << 20), method="POST")
        try:
            code = urllib.request.urlopen(req, timeout=10).status
        except urllib.error.HTTPError as e:
            code = e.code
        except OSError:
            code = "closed"
        check(code in (413, "closed"), "a 4 MiB body: %s" % code)
        # many at once
        errors = []

        def hammer():
            for _ in range(20):
                try:
                    c, _b = pod.http("/metrics")
                    if c != 200:
                        errors.append(c)
                except OSError as e:
                    errors.append(str(e))
        ts = [threading.Thread(target=hammer) for _ in range(30)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check(len(errors) < 30, "%d of 600 concurrent requests failed: %s" % (len(errors), errors[:3]))
        check(pod.http("/healthz")[0] == 200, "sidecar unhealthy after the flood")
        check(pod.sidecar.poll() is None, "sidecar died")
        check(not os.path.exists(pod.m.journal()), "a heal journal appeared")
        code, body = pod.http("/metrics")
        check("etcd_medic_build_info" in body, "metrics: %s" % body[:200])
        log("  bad input answered as it should; 600 concurrent requests, %d failed" % len(errors))
    finally:
        p.close()


def serve_with(pod, extra):
    """Rewrites the pod's sidecar config with extra lines; starts serve;
    returns (process, its stderr once it exits or after a second)."""
    with open(pod.m.medic_config) as f:
        lines = [ln for ln in f.read().splitlines() if not ln.startswith("listen:")]
    with open(pod.m.medic_config, "w") as f:
        f.write("\n".join(lines + extra) + "\n")
    proc = subprocess.Popen([ARGS_MEDIC(), "serve", "--config", pod.m.medic_config],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=1.5)
        return proc, err
    except subprocess.TimeoutExpired:
        return proc, ""


def ARGS_MEDIC():
    return os.path.join(ARGS.build, "src", "etcd-medic")


def sc_security():
    p = Pods(1, os.path.join(ARGS.work, "security"), ARGS.build)
    pod = p.pods[0]
    procs = []
    try:
        port = p.pods[0].sidecar_url.rsplit(":", 1)[1]
        # anywhere but loopback, without a token or TLS: refused at start
        proc, err = serve_with(pod, ["listen: 0.0.0.0:%s" % port])
        procs.append(proc)
        check(proc.returncode == 1 and "refusing to listen" in err,
              "open listen without token: %s %s" % (proc.returncode, err[-300:]))
        # with a token: probes open, the rest needs it
        tok = os.path.join(pod.dir, "token")
        with open(tok, "w") as f:
            f.write("s3cret-token\n")
        proc, err = serve_with(pod, ["listen: 0.0.0.0:%s" % port,
                                     "server:", "  token-file: %s" % tok])
        procs.append(proc)
        check(proc.poll() is None, "serve with a token did not start: %s" % err[-300:])
        code, _ = pod.http("/healthz")
        check(code == 200, "healthz with a token configured: %s" % code)
        code, _ = pod.http("/config")
        check(code == 401, "/config without the token: %s" % code)
        req = urllib.request.Request(pod.sidecar_url + "/initialization/status")
        req.add_header("Authorization", "Bearer s3cret-token")
        with urllib.request.urlopen(req, timeout=5) as r:
            check(r.status == 200 and r.read() == b"New", "with the token: %s" % r.status)
        req.add_header("Authorization", "Bearer s3cret-tokeN")
        try:
            urllib.request.urlopen(req, timeout=5)
            check(False, "a wrong token was accepted")
        except urllib.error.HTTPError as e:
            check(e.code == 401, "wrong token: %s" % e.code)
        log("  open listen refused without a token; token required except for probes")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        p.close()


SCENARIOS = {"wrapper": sc_wrapper, "http": sc_http, "security": sc_security,
             "heal": sc_heal}


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--data-mb", type=int, default=int(os.environ.get("E2E_DATA_MB", "16")))
    ARGS = ap.parse_args()
    ARGS.build = os.path.abspath(ARGS.build)
    names = ARGS.only.split(",") if ARGS.only else list(SCENARIOS)
    return run(SCENARIOS, names, ARGS.work)

if __name__ == "__main__":
    sys.exit(main())
