#!/usr/bin/env python3
"""test_heal.py - `etcd-medic heal` against real etcd clusters on loopback.

  test_heal.py --medic BIN --work DIR [--only NAME[,NAME]] [--quick]

Scenarios (each makes its own cluster and stops it):
  basic        3 members with data; one db damaged and its etcd stopped;
               heal, start it on the rendered config, heal again: promoted,
               three voters, its data equal to the leader's at one revision
  failpoints   the same, killed (SIGKILL) at every step boundary and run
               again: converges every time, never two learners, never
               without quorum
  concurrent   5 members, two damaged at once and healed at the same time:
               the lock serializes them, both end as voters
  quorum       2 of 3 down: refuses, changes nothing in the cluster or on
               disk, says why
  minority     5 members, the healing one reaches only one other: refuses
  disabled     heal.enabled false: judges, refuses, changes nothing
  stuck        a learner whose etcd never starts: `heal --promote` retries
               until its timeout, reports progress, fails clearly
  foreign      endpoints of another cluster: refuses
  tls          basic on a TLS cluster with client-certificate auth
  auth         basic on a cluster with authentication enabled
--quick runs basic, failpoints on three boundaries, and quorum (for the
sanitizer build).  Exit status 0 when every scenario passed.
"""

import argparse
import glob
import hashlib
import os
import shutil
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402
from scenario import check, log, run  # noqa: E402

ARGS = None




def new_cluster(name, n, **kw):
    work = os.path.join(ARGS.work, name)
    shutil.rmtree(work, ignore_errors=True)
    c = Cluster(n, work, ARGS.medic, **kw)
    c.start_all()
    return c


def voters_and_learners(c):
    ms = c.member_list()
    return ([m for m in ms if not m.get("isLearner")],
            [m for m in ms if m.get("isLearner")])


def file_sum(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Watch:
    """Polls the member list in the background: at most one learner, and
    the cluster keeps a leader, all along."""

    def __init__(self, c):
        self.c, self.stop, self.bad = c, False, []
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                _, learners = voters_and_learners(self.c)
                if len(learners) > 1:
                    self.bad.append("two learners at once: %s" % learners)
            except Exception:   # noqa: BLE001 - the cluster may be busy
                pass
            time.sleep(0.2)

    def end(self):
        self.stop = True
        self.t.join()
        check(not self.bad, "; ".join(self.bad[:3]))


def heal_until_config(m, env=None):
    rc, out, err = m.heal(env)
    check(rc == 0, "%s: heal exit %s; stderr:\n%s" % (m.name, rc, err[-3000:]))
    check("initial-cluster-state: existing" in out,
          "%s: no etcd config on stdout:\n%s\nstderr:\n%s" % (m.name, out, err[-2000:]))
    path = os.path.join(m.dir, "rendered.yaml")
    with open(path, "w") as f:
        f.write(out)
    return path


def promote(c, m, env=None, alone=True):
    """Runs heal on the running member: promoted.  alone: no other
    replacement is under way, so every member must be a voter now."""
    rc, out, err = m.heal(env)
    check(rc == 0, "%s: heal while running: exit %s:\n%s" % (m.name, rc, err[-3000:]))
    check(out == "", "%s: heal wrote to stdout while promoting: %r" % (m.name, out[:200]))
    voters, learners = voters_and_learners(c)
    check(any(v.get("name") == m.name for v in voters), "%s is not a voter" % m.name)
    if alone:
        check(not learners, "learners left after promotion: %s" % learners)
        check(len(voters) == len(c.members), "%d voters, wanted %d" % (
            len(voters), len(c.members)))
    check(not os.path.exists(m.journal()), "journal left: %s" % m.journal())


def same_data(c, members):
    """Every member holds the same keys and values at one revision."""
    r = c.any_call("/v3/kv/put", {"key": "L2NoZWNr", "value": "b2s="})
    rev = int(r["header"]["revision"])
    deadline = time.time() + 60
    for m in members:
        while True:
            st = c.status(m)
            if st and int(st.get("raftAppliedIndex", 0)) > 0 and \
                    int(st["header"].get("revision", 0)) >= rev:
                break
            check(time.time() < deadline, "%s did not reach revision %d" % (m.name, rev))
            time.sleep(0.2)
    dumps = {m.name: c.dump(m, rev) for m in members}
    check(len(set(dumps.values())) == 1, "data differs at revision %d: %s" % (rev, dumps))
    log("  same data at revision %d on %s: %d keys" % (rev, [m.name for m in members],
                                                       list(dumps.values())[0][1]))


def replace(c, m, alone=True):
    """The whole replacement of a stopped, damaged member."""
    rendered = heal_until_config(m)
    q = glob.glob(m.data_dir + ".quarantine.*")
    check(q, "no quarantined data dir next to %s" % m.data_dir)
    m.start(rendered)
    c.wait_healthy([m], timeout=60)
    promote(c, m, alone=alone)


# --- scenarios ---------------------------------------------------------------

def check_members(c, stopped=None):
    """`etcd-medic members` agrees with the cluster: every member, one
    leader, the stopped one down; text mode names every member too."""
    import json
    import subprocess
    args = [ARGS.medic, "members", "--endpoints", ",".join(m.client_url for m in c.members)]
    if c.tls:
        args += ["--cacert", c.pki["ca.crt"], "--cert", c.pki["client.crt"],
                 "--key", c.pki["client.key"]]
    if c.auth:
        args += ["--user", "root", "--password-file", os.path.join(c.members[0].dir, "password")]
    p = subprocess.run(args + ["--json"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "members --json: exit %s %s" % (p.returncode, p.stderr))
    doc = json.loads(p.stdout)
    ms = {m["name"]: m for m in doc["members"]}
    check(set(ms) == {m.name for m in c.members}, "members lists %s" % sorted(ms))
    check(sum(1 for m in ms.values() if m.get("leader")) == 1, "not one leader: %s" % doc)
    for m in c.members:
        up = m is not stopped
        check(ms[m.name]["healthy"] == up, "%s healthy=%s, wanted %s" % (
            m.name, ms[m.name]["healthy"], up))
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and all(m.name in p.stdout for m in c.members),
          "members (text): %s %s" % (p.stdout, p.stderr))


def sc_basic(**kw):
    c = new_cluster("basic" + kw.pop("suffix", ""), 3, **kw)
    try:
        c.put_many(ARGS.data_mb)
        m = c.members[2]
        m.stop()
        c.damage_db(m)
        check_members(c, stopped=m)
        watch = Watch(c)
        old = [x["ID"] for x in c.member_list() if x.get("name") == m.name]
        replace(c, m)
        new = [x["ID"] for x in c.member_list() if x.get("name") == m.name]
        check(old and new and old != new, "member ID unchanged: %s -> %s" % (old, new))
        watch.end()
        same_data(c, c.members)
        check_members(c)
    finally:
        c.close()


def sc_tls():
    sc_basic(tls=True, suffix="-tls")


def sc_auth():
    sc_basic(auth=True, suffix="-auth")


INIT_POINTS = ["after-assess", "after-lock", "after-remove", "after-quarantine",
               "after-add", "after-handover"]
RUN_POINTS = ["before-promote", "after-promote", "after-unlock"]


def sc_failpoints():
    c = new_cluster("failpoints", 3)
    points = INIT_POINTS + RUN_POINTS
    if ARGS.quick:
        points = ["after-remove", "after-add", "before-promote"]
    try:
        c.put_many(max(1, ARGS.data_mb // 4))
        m = c.members[1]
        watch = Watch(c)
        for fp in points:
            log("  failpoint %s" % fp)
            m.stop()
            c.damage_db(m)
            env = {"EM_FAILPOINT": fp}
            if fp in INIT_POINTS:
                rc, _, err = m.heal(env)
                check(rc == -9, "%s: heal was not killed there (exit %s):\n%s" % (
                    fp, rc, err[-2000:]))
                # the others keep a quorum whatever happened
                c.any_call("/v3/kv/put", {"key": "L2ZwL2s=", "value": "MQ=="})
                rendered = heal_until_config(m)
                m.start(rendered)
                c.wait_healthy([m])
                promote(c, m)
            else:
                rendered = heal_until_config(m)
                m.start(rendered)
                c.wait_healthy([m])
                rc, _, err = m.heal(env)
                check(rc == -9, "%s: heal was not killed there (exit %s):\n%s" % (
                    fp, rc, err[-2000:]))
                promote(c, m)
            lock = c.any_call("/v3/kv/range", {"key": "L2V0Y2QtbWVkaWMvaGVhbC1sb2Nr"})
            check(not lock.get("kvs"), "%s: heal lock still held: %s" % (fp, lock))
        watch.end()
        same_data(c, c.members)
    finally:
        c.close()


def sc_concurrent():
    c = new_cluster("concurrent", 5)
    try:
        c.put_many(max(1, ARGS.data_mb // 4))
        a, b = c.members[3], c.members[4]
        for m in (a, b):
            m.stop()
            c.damage_db(m)
        watch = Watch(c)
        results = {}

        def one(m):
            try:
                replace(c, m, alone=False)
                results[m.name] = "ok"
            except Exception as e:   # noqa: BLE001 - reported below
                results[m.name] = "%s" % e
        ts = [threading.Thread(target=one, args=(m,)) for m in (a, b)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        check(results == {a.name: "ok", b.name: "ok"}, "concurrent heals: %s" % results)
        voters, learners = voters_and_learners(c)
        check(len(voters) == 5 and not learners, "after both: %d voters, learners %s" % (
            len(voters), learners))
        watch.end()
        same_data(c, c.members)
    finally:
        c.close()


def refused_without_change(c, m, what):
    before = sorted(x["ID"] for x in c.member_list())
    db = os.path.join(m.data_dir, "member", "snap", "db")
    sum_before = file_sum(db)
    rc, out, err = m.heal()
    check(rc == 1, "%s: heal exit %s, wanted 1 (refused):\n%s" % (what, rc, err[-2000:]))
    check(out == "", "%s: refused heal wrote a config: %r" % (what, out[:200]))
    check("refused" in err, "%s: the log does not say refused:\n%s" % (what, err[-2000:]))
    check(file_sum(db) == sum_before, "%s: data dir changed" % what)
    check(not glob.glob(m.data_dir + ".quarantine.*"), "%s: data dir moved" % what)
    check(not os.path.exists(m.journal()), "%s: journal left" % what)
    after = sorted(x["ID"] for x in c.member_list())
    check(before == after, "%s: members changed: %s -> %s" % (what, before, after))
    log("  refused: %s" % [ln for ln in err.splitlines() if "refused" in ln][-1][:300])


def sc_quorum():
    c = new_cluster("quorum", 3)
    try:
        c.put_many(1)
        m = c.members[2]
        m.stop()
        c.damage_db(m)
        c.members[1].stop()
        refused_without_change(c, m, "2 of 3 down")
    finally:
        c.close()


def sc_disabled():
    c = new_cluster("disabled", 3)
    try:
        c.put_many(1)
        m = c.members[2]
        m.stop()
        c.damage_db(m)
        m.write_medic_config([x.client_url for x in c.members], enabled="false")
        refused_without_change(c, m, "heal.enabled false")
    finally:
        c.close()


def sc_minority():
    c = new_cluster("minority", 5)
    try:
        c.put_many(1)
        m = c.members[4]
        m.stop()
        c.damage_db(m)
        # it reaches m0 only: its endpoints and the other voters it can
        # ask are cut down to that one by stopping them
        for x in c.members[2:4]:
            x.stop()
        c.members[1].stop()
        refused_without_change(c, m, "reaches a minority")
    finally:
        c.close()


def sc_stuck():
    c = new_cluster("stuck", 3)
    try:
        c.put_many(1)
        m = c.members[2]
        m.stop()
        c.damage_db(m)
        m.write_medic_config([x.client_url for x in c.members], **{"promote-timeout": "8s"})
        heal_until_config(m)
        # its etcd never starts: `heal --promote` waits for it to catch up
        t0 = time.time()
        p = m.heal_args(["--promote"])
        took = time.time() - t0
        rc, err = p.returncode, p.stderr
        check(rc == 1, "stuck learner: heal exit %s:\n%s" % (rc, err[-2000:]))
        check("not caught up" in err, "no clear failure:\n%s" % err[-2000:])
        check("catching up" in err, "no progress reported:\n%s" % err[-2000:])
        check(7 <= took <= 60, "gave up after %.1f s, promote-timeout is 8 s" % took)
        _, learners = voters_and_learners(c)
        check(len(learners) == 1, "the learner should stay a learner: %s" % learners)
        log("  stuck learner: failed clearly after %.1f s" % took)
    finally:
        c.close()


def sc_foreign():
    a = new_cluster("foreign-a", 3)
    b = new_cluster("foreign-b", 1)
    try:
        a.put_many(1)
        m = a.members[2]
        m.stop()
        a.damage_db(m)
        m.write_medic_config([b.members[0].client_url])
        before = sorted(x["ID"] for x in b.member_list())
        db = os.path.join(m.data_dir, "member", "snap", "db")
        sum_before = file_sum(db)
        rc, out, err = m.heal()
        check(rc == 1, "foreign cluster: heal exit %s:\n%s" % (rc, err[-2000:]))
        check("cluster" in err and "refused" in err, "no reason given:\n%s" % err[-2000:])
        check(file_sum(db) == sum_before, "data dir changed")
        check(sorted(x["ID"] for x in b.member_list()) == before, "other cluster changed")
        log("  refused: %s" % [ln for ln in err.splitlines() if "refused" in ln][-1][:300])
    finally:
        a.close()
        b.close()


SCENARIOS = {
    "basic": sc_basic, "failpoints": sc_failpoints, "concurrent": sc_concurrent,
    "quorum": sc_quorum, "minority": sc_minority, "disabled": sc_disabled, "stuck": sc_stuck,
    "foreign": sc_foreign, "tls": sc_tls, "auth": sc_auth,
}
QUICK = ["basic", "failpoints", "quorum"]


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--medic", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data-mb", type=int, default=int(os.environ.get("HEAL_DATA_MB", "24")))
    ARGS = ap.parse_args()
    ARGS.medic = os.path.abspath(ARGS.medic)
    names = ARGS.only.split(",") if ARGS.only else (QUICK if ARGS.quick else list(SCENARIOS))
    return run(SCENARIOS, names, ARGS.work)

if __name__ == "__main__":
    sys.exit(main())
