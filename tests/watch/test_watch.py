#!/usr/bin/env python3
"""test_watch.py - the runtime watch (src/watch.c) on real etcd clusters.

  test_watch.py --driver WATCH_DRIVER --medic ETCD_MEDIC --work DIR [--only A,B]

watch_driver runs em_watch_start on one member (from that member's
etcd-medic config) and answers `get` (the state as JSON) and `metrics` on
its stdin; its log (JSON lines) goes to a file.  Scenarios, in order, on a
3-member cluster (tests/heal/cluster.py) and a single-member one:

  voter        on a voter, with a writer busy all along: answers, leader,
               voter; data compared with a peer slice by slice (100 keys a
               check over 300 keys): always equal; metrics agree
  stop         a watch waiting for its next round (30 s away) stops at once
  learner      a learner added with member add --learner and started; the
               watch with heal.enabled false reports it and skips the hash
               check (counted once), and does not promote it
  promote      the same learner with heal enabled: promoted once in sync;
               the member list says so
  divergent    one member's data made to differ without breaking a file
               (see below); `etcd-medic validate` calls the data dir
               healthy, the watch finds the divergence, naming the peer and
               the revision
  inotify      a running member's member dir renamed away: data_dir_gone
               within a second, logged at error level; renamed back, the
               flag clears at the next round
  alarm        a member with a 1 MiB quota written full: NOSPACE reported
  foreign      a member of one cluster with the endpoints of another: the
               hash check is an error, never a divergence

How the divergence is made honest: a member is stopped cleanly, and in its
bbolt db the bytes of one value (a unique 64-byte pattern) are overwritten
with another pattern of the same length: the page structure stays intact
(bbolt has no page checksums), so etcd starts on it and serves the other
value, exactly as after a bit flip on disk that no file check can see.  The
WAL still holds the original put, but etcd does not replay entries its db
has applied (consistent index), so the difference stays.

Prints "N passed, N failed"; exit status 0 when all passed.
"""

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "heal"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from scenario import Failed, b64, check, etcd_at_least, gw_error, log  # noqa: E402,F401
from cluster import Cluster, Member, free_ports  # noqa: E402

ARGS = None
PATTERN_A = b"watch-divergence-" + b"A" * 47
PATTERN_B = b"watch-divergence-" + b"B" * 47





# --- the driver ----------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


class Driver:
    def __init__(self, name, config):
        self.name = name
        self.logpath = os.path.join(ARGS.work, name + ".watch.log")
        self.logf = open(self.logpath, "w")
        self.p = subprocess.Popen([ARGS.driver, config], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.logf, text=True)
        self.last = None

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()

    def get(self):
        self.cmd("get")
        line = self.p.stdout.readline()
        check(line, "%s: watch_driver died; log %s" % (self.name, self.logpath))
        self.last = json.loads(line)
        return self.last

    def wait(self, what, pred, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.get()
            if pred(s):
                return s
            time.sleep(0.05)
        raise Failed("%s: not %s after %ss: %s" % (self.name, what, timeout, self.last))

    def metrics(self):
        """{(name, ((label, value), ...)): value}"""
        self.cmd("metrics")
        out = {}
        while True:
            line = self.p.stdout.readline()
            check(line, "%s: watch_driver died" % self.name)
            line = line.rstrip("\n")
            if line == "# END":
                return out
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            check(m, "%s: bad exposition line %r" % (self.name, line))
            labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
            out[(m.group(1), labels)] = float(m.group(3))

    def stop(self):
        """Stops the watch; the milliseconds em_watch_stop took."""
        self.cmd("stop")
        line = self.p.stdout.readline()
        rc = self.p.wait(30)
        self.logf.close()
        check(rc == 0 and line, "%s: watch_driver exit %s; log %s" % (self.name, rc, self.logpath))
        return json.loads(line)["stopped_ms"]

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.logf.close()

    def logs(self, level=None):
        out = []
        with open(self.logpath) as f:
            for line in f:
                try:
                    o = json.loads(line)
                except ValueError:
                    continue
                if level is None or o.get("level") == level:
                    out.append(o)
        return out


def metric(ms, name, **labels):
    return ms.get((name, tuple(sorted(labels.items()))))


def medic_config(m, name, endpoints, heal_enabled=True, **watch):
    """m's etcd-medic config with a watch section, JSON logs at debug."""
    m.write_medic_config(endpoints, enabled="true" if heal_enabled else "false")
    with open(m.medic_config) as f:
        text = f.read().replace("  format: text", "  format: json")
    w = {"interval": "1s", "hash-check": "true", "hash-check-interval": "1s"}
    w.update({k.replace("_", "-"): v for k, v in watch.items()})
    text += "watch:\n" + "".join("  %s: %s\n" % kv for kv in w.items())
    path = os.path.join(m.dir, "watch-%s.yaml" % name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_driver(name, m, endpoints, body, **kw):
    d = Driver(name, medic_config(m, name, endpoints, **kw))
    try:
        return body(d)
    finally:
        d.kill()


# --- scenarios ---------------------------------------------------------------

class Writer:
    """Puts keys in the background, so revisions move during the checks."""

    def __init__(self, c):
        self.c, self.stop, self.n = c, False, 0
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                self.c.any_call("/v3/kv/put", {"key": b64("/busy/%d" % (self.n % 50)),
                                               "value": b64("v%d" % self.n)})
                self.n += 1
            except Exception:   # noqa: BLE001 - the cluster may be busy
                pass
            time.sleep(0.01)

    def end(self):
        self.stop = True
        self.t.join()


def urls(c):
    return [m.client_url for m in c.members]


def sc_voter(c):
    m = c.members[0]
    writer = Writer(c)

    def body(d):
        s = d.wait("a voter with a leader", lambda s: s["etcd_answers"] and s["has_leader"]
                   and s["is_voter"] and not s["is_learner"])
        d.wait("compared equal", lambda s: s["hash_check"] == 1)
        t0 = time.time()
        while time.time() - t0 < 15:
            ms = d.metrics()
            if metric(ms, "etcd_medic_hash_checks_total", result="equal") >= 5:
                break
            time.sleep(0.2)
        s = d.get()
        ms = d.metrics()
        check(metric(ms, "etcd_medic_hash_checks_total", result="equal") >= 5,
              "fewer than 5 equal checks: %s" % s)
        check(metric(ms, "etcd_medic_hash_checks_total", result="divergent") == 0,
              "a divergence on a healthy cluster: %s" % s)
        check(metric(ms, "etcd_medic_hash_divergent") == 0, "divergent gauge set")
        for name, v in (("etcd_medic_member_up", 1), ("etcd_medic_member_has_leader", 1),
                        ("etcd_medic_member_is_learner", 0), ("etcd_medic_data_dir_gone", 0),
                        ("etcd_medic_heal_lock_held", 0)):
            check(metric(ms, name) == v, "%s is %s, wanted %s" % (name, metric(ms, name), v))
        check(metric(ms, "etcd_medic_alarms", alarm="NOSPACE") == 0, "NOSPACE gauge")
        check(metric(ms, "etcd_medic_watch_last_run_timestamp_seconds") > 0, "no last run")
        details = [o.get("detail", "") for o in d.logs("info") if o.get("result") == "equal"]
        if etcd_at_least(3, 5, 10):
            # The gateway serves HashKV: one call per member.
            check(all("HashKV" in x for x in details),
                  "not compared by HashKV: %s" % details[:3])
        else:
            check(any("keys after" in x for x in details),
                  "the digest did not go slice by slice: %s" % details[:3])
        check(all("revision" in x and "m" in x for x in details), "details: %s" % details[:3])
        check(not d.logs("error"), "error lines: %s" % d.logs("error")[:3])
        log("  %d equal checks while %d puts went on; last: %s" % (
            metric(ms, "etcd_medic_hash_checks_total", result="equal"), writer.n,
            s["hash_detail"]))
        ms_stop = d.stop()
        check(ms_stop < 3000, "stop took %.0f ms" % ms_stop)

    try:
        run_driver("voter", m, urls(c), body, hash_max_keys=100)
    finally:
        writer.end()


def sc_stop(c):
    def body(d):
        d.wait("past its first round", lambda s: s["last_run"] > 0)
        time.sleep(0.3)
        ms = d.stop()
        check(ms < 500, "stop took %.0f ms while the watch slept" % ms)
        log("  stopped in %.1f ms" % ms)
    run_driver("stop", c.members[1], urls(c), body, interval="30s")


def add_learner(c):
    """m3 added with member add --learner (through the gateway) and started."""
    cport, pport = free_ports(2)
    m = Member(c, "m3", cport, pport)
    r = c.any_call("/v3/cluster/member/add", {"peerURLs": [m.peer_url], "isLearner": True})
    check(r.get("member", {}).get("isLearner"), "member add --learner: %s" % r)
    initial = ",".join("%s=%s" % (x.name, x.peer_url) for x in c.members + [m])
    m.write_etcd_config(initial, "existing")
    m.start()
    c.wait_healthy([m], timeout=30)
    return m


def learners(c):
    return [x.get("name") for x in c.member_list() if x.get("isLearner")]


def sc_learner(c, m):
    def body(d):
        s = d.wait("a learner", lambda s: s["etcd_answers"] and s["is_learner"]
                   and "learner" in s["hash_detail"])
        check(not s["is_voter"], "a learner called a voter: %s" % s)
        check(s["hash_check"] == 0, "a learner compared: %s" % s)
        time.sleep(2.5)   # rounds go on: the skip is not counted again
        ms = d.metrics()
        check(metric(ms, "etcd_medic_hash_checks_total", result="skipped") == 1,
              "skips counted: %s" % metric(ms, "etcd_medic_hash_checks_total", result="skipped"))
        check(metric(ms, "etcd_medic_member_is_learner") == 1, "is_learner gauge")
        check(metric(ms, "etcd_medic_leader_raft_index") > 0, "no leader index")
        check(metric(ms, "etcd_medic_learner_applied_index") > 0, "no applied index")
        check(learners(c) == ["m3"], "promoted with heal disabled: %s" % learners(c))
        check(any("heal.enabled is false" in o["msg"] for o in d.logs("warn")),
              "no warning about heal.enabled")
        d.stop()
    run_driver("learner", m, urls(c) + [m.client_url], body, heal_enabled=False)


def sc_promote(c, m):
    def body(d):
        t0 = time.time()
        s = d.wait("promoted", lambda s: s["is_voter"] and not s["is_learner"], timeout=40)
        log("  promoted in %.1f s: %s" % (time.time() - t0, s["member_id"]))
        check(not learners(c), "still learners: %s" % learners(c))
        names = sorted(x.get("name") for x in c.member_list())
        check(names == ["m0", "m1", "m2", "m3"], "members: %s" % names)
        ms = d.metrics()
        check(metric(ms, "etcd_medic_heal_runs_total", outcome="promoted") == 1,
              "promoted runs: %s" % metric(ms, "etcd_medic_heal_runs_total", outcome="promoted"))
        d.wait("compared as a voter", lambda s: s["hash_check"] == 1)
        check(metric(d.metrics(), "etcd_medic_member_is_learner") == 0, "is_learner gauge")
        d.stop()
    run_driver("promote", m, urls(c) + [m.client_url], body)


def make_divergent(c, m):
    c.any_call("/v3/kv/put", {"key": b64("/watch/divergent"), "value": b64(PATTERN_A)})
    c.wait_healthy()
    time.sleep(1)   # let m apply it
    m.stop()
    db = os.path.join(m.data_dir, "member", "snap", "db")
    with open(db, "r+b") as f:
        data = f.read()
        n = data.count(PATTERN_A)
        check(n >= 1, "the value is not in %s" % db)
        f.seek(0)
        f.write(data.replace(PATTERN_A, PATTERN_B))
    v = subprocess.run([ARGS.medic, "validate", "--data-dir", m.data_dir],
                       capture_output=True, text=True, timeout=120)
    check(v.returncode == 0, "validate calls the changed data dir %s: %s" % (
        v.returncode, v.stdout[-500:]))
    log("  %d copies of the value changed in %s's db; validate: healthy" % (n, m.name))
    m.start()
    c.wait_healthy([m], timeout=30)
    r = c.call(m.client_url, "/v3/kv/range", {"key": b64("/watch/divergent"),
                                             "serializable": True})
    check(base64.b64decode(r["kvs"][0]["value"]) == PATTERN_B,
          "etcd on %s does not serve the changed value" % m.name)


def sc_divergent(c):
    m = c.members[2]
    make_divergent(c, m)

    def body(d):
        s = d.wait("divergent", lambda s: s["hash_check"] == -1, timeout=20)
        det = s["hash_detail"]
        check("DIVERGENT" in det and "revision" in det and "peer m" in det,
              "detail: %s" % det)
        ms = d.metrics()
        check(metric(ms, "etcd_medic_hash_divergent") == 1, "divergent gauge")
        check(metric(ms, "etcd_medic_hash_checks_total", result="divergent") >= 1, "counter")
        errs = [o for o in d.logs("error") if "differs" in o["msg"]]
        check(errs and errs[0].get("result") == "divergent", "no error line: %s" % d.logs("error"))
        log("  %s" % det)
        d.stop()
    run_driver("divergent", m, urls(c), body)


def sc_inotify(c):
    m = c.members[1]
    member = os.path.join(m.data_dir, "member")

    def body(d):
        d.wait("watching", lambda s: s["etcd_answers"] and s["last_run"] > 0)
        # Rounds come every second: only inotify reports within 0.9 s
        # every time; do it three times to be sure it is not a round.
        took = []
        for i in range(3):
            time.sleep(0.3)
            t0 = time.time()
            os.rename(member, member + ".moved")
            d.wait("gone", lambda s: s["data_dir_gone"], timeout=5)
            took.append(time.time() - t0)
            os.rename(member + ".moved", member)
            d.cmd("kick")
            d.wait("back", lambda s: not s["data_dir_gone"], timeout=5)
        check(max(took) < 0.9, "reported after %s s" % ["%.2f" % t for t in took])
        errs = [o for o in d.logs("error") if "member dir" in o["msg"]]
        check(len(errs) == 3, "error lines: %s" % errs)
        check(any("again" in o["msg"] for o in d.logs("info")), "no line when it came back")
        log("  reported after %s s" % ", ".join("%.3f" % t for t in took))
        # A replaced dir: another member dir in place of the one etcd
        # still holds open under another name.
        os.rename(member, member + ".moved")
        os.makedirs(os.path.join(member, "snap"))
        open(os.path.join(member, "snap", "db"), "wb").close()
        d.wait("gone (replaced)", lambda s: s["data_dir_gone"], timeout=5)
        ms = d.metrics()
        check(metric(ms, "etcd_medic_data_dir_gone") == 1, "gauge")
        d.stop()
    run_driver("inotify", m, urls(c), body)


def sc_alarm(one):
    m = one.members[0]
    val = b64(os.urandom(96 * 1024))
    for i in range(200):
        r = one.call(m.client_url, "/v3/kv/put", {"key": b64("/fill/%d" % i), "value": val})
        if gw_error(r) is not None:
            check("space" in gw_error(r), "put: %s" % r)
            break
    else:
        raise Failed("no NOSPACE after 200 puts of 96 KiB")

    def body(d):
        s = d.wait("NOSPACE", lambda s: "NOSPACE" in s["alarms"])
        ms = d.metrics()
        check(metric(ms, "etcd_medic_alarms", alarm="NOSPACE") == 1, "gauge")
        check(metric(ms, "etcd_medic_alarms", alarm="CORRUPT") == 0, "gauge")
        check(any(o["msg"] == "etcd alarm active" for o in d.logs("error")), "no error line")
        log("  alarms: %s" % s["alarms"])
        d.stop()
    run_driver("alarm", m, urls(one), body)


def sc_foreign(one, c):
    m = one.members[0]

    def body(d):
        s = d.wait("a hash check error", lambda s: s["last_run"] > 0 and
                   "cluster" in s["hash_detail"])
        time.sleep(1.5)
        s, ms = d.get(), d.metrics()
        check(s["hash_check"] == 0, "compared across clusters: %s" % s)
        check(not s["is_voter"], "a voter of the other cluster? %s" % s)
        check(metric(ms, "etcd_medic_hash_checks_total", result="error") >= 1, "error counter")
        check(metric(ms, "etcd_medic_hash_checks_total", result="divergent") == 0, "divergent")
        log("  %s" % s["hash_detail"])
        d.stop()
    run_driver("foreign", m, urls(c), body)


# --- main ----------------------------------------------------------------------

def small_quota(one):
    m = one.members[0]
    with open(m.etcd_config) as f:
        text = f.read()
    with open(m.etcd_config, "w") as f:
        f.write(text.replace("quota-backend-bytes: 4294967296", "quota-backend-bytes: 1048576"))


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--driver", required=True)
    ap.add_argument("--medic", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default="")
    ARGS = ap.parse_args()
    ARGS.driver, ARGS.medic = os.path.abspath(ARGS.driver), os.path.abspath(ARGS.medic)
    shutil.rmtree(ARGS.work, ignore_errors=True)
    os.makedirs(ARGS.work)
    c = Cluster(3, os.path.join(ARGS.work, "c3"), ARGS.medic)
    one = Cluster(1, os.path.join(ARGS.work, "one"), ARGS.medic)
    state = {}
    scenarios = [
        ("voter", lambda: sc_voter(c)),
        ("stop", lambda: sc_stop(c)),
        ("learner", lambda: sc_learner(c, state.setdefault("m3", add_learner(c)))),
        ("promote", lambda: sc_promote(c, state.get("m3") or state.setdefault("m3", add_learner(c)))),
        ("divergent", lambda: sc_divergent(c)),
        ("inotify", lambda: sc_inotify(c)),
        ("alarm", lambda: sc_alarm(one)),
        ("foreign", lambda: sc_foreign(one, c)),
    ]
    only = set(ARGS.only.split(",")) if ARGS.only else None
    passed, failed = [], []
    t_all = time.time()
    try:
        c.start_all()
        small_quota(one)
        one.start_all()
        for i in range(300):
            c.any_call("/v3/kv/put", {"key": b64("/bulk/%04d" % i), "value": b64("v%d" % i)})
        for name, fn in scenarios:
            if only and name not in only:
                continue
            t0 = time.time()
            log("scenario %s" % name)
            try:
                fn()
                passed.append(name)
                log("scenario %s: ok (%.1f s)" % (name, time.time() - t0))
            except Exception as e:   # noqa: BLE001 - report every scenario
                failed.append(name)
                log("scenario %s: FAILED (%.1f s): %s" % (name, time.time() - t0, e))
                if not isinstance(e, Failed):
                    traceback.print_exc()
    finally:
        c.close()
        one.close()
        for m in state.values():
            m.kill9()
    if not failed:
        shutil.rmtree(ARGS.work, ignore_errors=True)
    else:
        log("logs in %s" % ARGS.work)
    log("watch scenarios in %.1f s" % (time.time() - t_all))
    print("%d passed, %d failed" % (len(passed), len(failed)), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
