#!/usr/bin/env python3
"""demo.py - etcd-medic's main job, end to end, on loopback.

Three etcd members run as pods would run them: the sidecar
(`etcd-medic serve`), and an etcd container whose command is the launcher
(`etcd-medic-launch -- etcd`), restarted by a supervisor when it exits as
the kubelet would.  The demo writes data, damages one member's db, kills its
etcd, and shows the heal step by step with timings: the launcher asks the
sidecar, which judges the data dir corrupt, checks the quorum, takes the
lock, removes the member, moves its data aside, adds it back as a learner
and hands out its config; etcd starts; the sidecar's watch promotes it.  It
ends with the member list and a data check, and the snapshots the
sidecars took meanwhile on their schedule (backup.enabled), verified.
Ctrl-C, or the end, stops everything and removes the temp dir (--keep
leaves it).

usage: demo.py --build BUILD_DIR [--mb MB] [--keep]
"""

import argparse
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "e2e"))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
from breakdb import break_key_root  # noqa: E402
from pods import Pods  # noqa: E402

T0 = time.time()


def say(msg):
    print("\033[1m[%6.1fs] %s\033[0m" % (time.time() - T0, msg), flush=True)


def note(msg):
    print("          %s" % msg, flush=True)


def members(p):
    eps = ",".join(m.client_url for m in p.c.members)
    out = subprocess.run([p.medic, "members", "--endpoints", eps],
                         capture_output=True, text=True, timeout=60)
    for line in out.stdout.splitlines():
        note(line)


STEPS = [  # what the sidecar's log says, in order, and what it means
    ("data dir is corrupt", "validation: the data dir is corrupt"),
    ("heal lock taken", "the cluster-wide heal lock is ours"),
    ("member removed from the cluster", "the broken member is removed"),
    ("moved aside", "its data dir is moved aside (quarantine)"),
    ("added back as a learner", "it is added back as a learner"),
    ("initialization=Successful", "the launcher gets the config; etcd starts"),
    ("learner promoted to voter", "the sidecar's watch promotes the learner"),
    ("heal lock released", "the lock is released; the replacement is over"),
]


def follow_heal(pod, since, timeout=300):
    """Prints each step as the sidecar logs it, in order, with its time."""
    logf = os.path.join(pod.dir, "sidecar.log")
    i, pos, deadline = 0, since, time.time() + timeout
    while time.time() < deadline and i < len(STEPS):
        with open(logf, errors="replace") as f:
            f.seek(pos)
            lines = f.read().splitlines(keepends=True)
        for line in lines:
            pos += len(line.encode())
            if i < len(STEPS) and STEPS[i][0] in line:
                say("  %s" % STEPS[i][1])
                note(line.strip()[:160])
                i += 1
        time.sleep(0.1)


def with_backups(p, store_dir):
    """Snapshots every 10 s into a local store, as backup.enabled does."""
    for pod in p.pods:
        port = pod.sidecar_url.rsplit(":", 1)[1]
        pod.m.write_medic_config(
            [x.client_url for x in p.c.members],
            extra=["listen: 127.0.0.1:%s" % port, "watch:", "  interval: 1s",
                   "backup:", "  enabled: true", "  interval: 10s",
                   "  store: file://%s" % store_dir, "  keep-last: 5"],
            **{"promote-timeout": "300s"})
    return "file://" + store_dir


def show_backups(p, store, build):
    say("backups: one snapshot per 10 s slot, taken by the leader's sidecar")
    time.sleep(max(0.0, 10.5 - time.time() % 10))
    out = subprocess.run([os.path.join(build, "src", "etcd-medic"), "snapshot",
                          "verify", "--from", store], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        note(line)
    r = p.c.any_call("/v3/kv/range", {"key": "L2V0Y2QtbWVkaWMvYmFja3VwLWxvY2svbGFzdA=="})
    for kv in r.get("kvs", []):
        note("last slot: %s" % base64.b64decode(kv["value"]).decode())


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--mb", type=int, default=32)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="etcd-medic-demo.")
    p = Pods(3, work, args.build)
    backups = with_backups(p, os.path.join(work, "backups"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        say("starting 3 members as pods: sidecar + launcher + etcd, each")
        p.start()
        p.voters_ready(90)
        say("cluster up: every launcher asked its sidecar first")
        members(p)
        say("writing %d MB of keys" % args.mb)
        rev = p.c.put_many(args.mb)
        note("revision %d" % rev)
        pod = p.pods[2]
        since = os.path.getsize(os.path.join(pod.dir, "sidecar.log"))
        say("%s: a misdirected write damages its db, and its etcd is killed" % pod.name)
        pod.kill_etcd(hold=True)
        note(break_key_root(os.path.join(pod.m.data_dir, "member", "snap", "db")) and
             "page header of the key bucket's root overwritten")
        t_heal = time.time()
        pod.release()
        say("the kubelet restarts the etcd container; its launcher asks the sidecar")
        follow_heal(pod, since)
        p.voters_ready(300)
        say("healed in %.1f s from the restart" % (time.time() - t_heal))
        members(p)
        say("data check: every member holds the same keys and values")
        r = p.c.any_call("/v3/kv/put", {"key": "L2RlbW8=", "value": "ZG9uZQ=="})
        rev = int(r["header"]["revision"])
        time.sleep(1)
        for m in p.c.members:
            h, n = p.c.dump(m, rev)
            note("%s: %d keys at revision %d, sha256 %s" % (m.name, n, rev, h[:16]))
        q = [x for x in os.listdir(pod.dir) if ".quarantine." in x]
        note("the damaged data dir is kept aside: %s" % q)
        show_backups(p, backups, args.build)
        say("done")
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        p.close()
        if args.keep:
            print("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
