#!/usr/bin/env python3
"""serve_memory.py - the memory of `etcd-medic serve`, the sidecar.

  tests/bench/serve_memory.py [--build build] [--big-data build/bench-data/VERSION-1100]

Prints, for the sidecar process:
  - resident set (VmRSS) and anonymous memory (RssAnon) when idle beside a
    running member, after its watch ran a few rounds; and the same in a
    cluster with TLS and snapshots every 10 s, between snapshots, with the
    peak RssAnon while they are taken;
  - peak RssAnon (sampled every 2 ms) during a heal of its member (three
    members run as pods, one db damaged, etcd killed, until promoted);
  - peak RssAnon during a full validation of a large db (the one
    tests/bench/validate.sh makes, at least 1 GiB), asked for through the
    sidecar's own HTTP API as the launcher would.
Goals: at most 8 MiB resident idle, at most 16 MiB anonymous at any time
(gardener's Go sidecar asks Kubernetes for 128 MiB).  Prints figures; not a
timed test.
"""

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from breakdb import break_key_root  # noqa: E402
from pods import Pods  # noqa: E402


def mem(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


class Peak:
    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                self.peak = max(self.peak, mem(self.pid)["RssAnon"])
            except (OSError, KeyError):
                pass
            time.sleep(0.002)

    def end(self):
        self.stop = True
        self.t.join()
        return self.peak


FLOOR_C = r"""
#include <curl/curl.h>
#include <unistd.h>
int main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (write(1, "r", 1) != 1)
		return 1;
	pause();
	return 0;
}
"""

DEBIAN_LIBCURL = "/usr/lib/x86_64-linux-gnu/libcurl.so.4"


def library_floor(work):
    """VmRSS of a program that does nothing but load libcurl and run
    curl_global_init: with Debian's libcurl package (OpenSSL, libssh2,
    LDAP, RTMP, Kerberos), and with the minimal static libcurl etcd-medic
    links (tests/lib/libcurl.sh), measured in the same run."""
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, "floor.c")
    with open(src, "w") as f:
        f.write(FLOOR_C)
    prefix = os.path.join(HERE, "..", "..", ".deps", "curl")
    inc = "-I" + os.path.join(prefix, "include")
    links = {"minimal": [os.path.join(prefix, "lib", "libcurl.a"), "-lgnutls",
                         "-lnettle", "-lnghttp2", "-lpthread"]}
    if os.path.exists(DEBIAN_LIBCURL):
        links["debian"] = [DEBIAN_LIBCURL]
    out = {}
    for name, libs in links.items():
        exe = os.path.join(work, "floor-" + name)
        subprocess.run(["cc", "-O2", inc, "-o", exe, src] + libs, check=True)
        pr = subprocess.Popen([exe], stdout=subprocess.PIPE)
        try:
            pr.stdout.read(1)
            out[name] = mem(pr.pid)["VmRSS"]
        finally:
            pr.kill()
            pr.wait()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "..", "build"))
    ap.add_argument("--big-data", default=os.path.join(
        HERE, "..", "..", "build", "bench-data", os.environ["EM_ETCD_VERSION"] + "-1100"))
    ap.add_argument("--mb", type=int, default=64)
    ap.add_argument("--work", default="/tmp/etcd-medic-bench-serve")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    res = {"floor": library_floor(args.work + "-floor")}
    p = Pods(3, args.work, build, watch_interval="1s")
    try:
        p.start()
        p.voters_ready(90)
        p.c.put_many(args.mb)
        time.sleep(5)
        pod = p.pods[2]
        idle = mem(pod.sidecar.pid)
        res["idle"] = idle
        peak = Peak(pod.sidecar.pid)
        old = [x["ID"] for x in p.c.member_list() if x.get("name") == pod.name]
        pod.kill_etcd(hold=True)
        break_key_root(os.path.join(pod.m.data_dir, "member", "snap", "db"))
        pod.release()
        deadline = time.time() + 300
        while time.time() < deadline:
            ids = [x["ID"] for x in p.c.member_list() if x.get("name") == pod.name]
            if ids and ids != old:
                break
            time.sleep(0.2)
        p.voters_ready(300)
        res["heal"] = peak.end()
    finally:
        p.close()
    db = os.path.join(args.big_data, "member", "snap", "db")
    if os.path.exists(db):
        q = Pods(1, args.work + "-big", build, watch_interval="10s")
        try:
            shutil.rmtree(q.c.members[0].data_dir, ignore_errors=True)
            os.symlink(os.path.abspath(args.big_data), q.c.members[0].data_dir)
            pod = q.pods[0]
            pod.start_sidecar()
            time.sleep(1)
            peak = Peak(pod.sidecar.pid)
            pod.http("/initialization/start?mode=full", method="POST")
            while pod.http("/initialization/status")[1] in ("Progress", "New") and \
                    pod.status().get("state") == "Progress":
                time.sleep(0.05)
            res["validate"] = peak.end()
            res["validate_db"] = os.path.getsize(db)
            st = pod.status()
            res["validate_verdict"] = st.get("verdict")
        finally:
            q.close()
    # Idle as most clusters run it: TLS with client certificates, and
    # snapshots every 10 s into a store.  Idle is the level between
    # snapshots (the least of 20 samples over 10 s, after two snapshots);
    # the peak is over the whole time, snapshots included.
    store = args.work + "-tls-store"
    shutil.rmtree(store, ignore_errors=True)
    q = Pods(3, args.work + "-tls", build, watch_interval="1s", tls=True,
             extra=["backup:", "  enabled: true", "  interval: 10s",
                    "  store: file://%s" % store, "  keep-last: 5"])
    try:
        q.start()
        q.voters_ready(90)
        peaks = [Peak(pod.sidecar.pid) for pod in q.pods]
        q.c.put_many(args.mb)
        snaps = os.path.join(store, "snapshots")
        deadline = time.time() + 120
        while time.time() < deadline and sum(
                os.path.exists(os.path.join(snaps, d, "manifest.json"))
                for d in (os.listdir(snaps) if os.path.isdir(snaps) else [])) < 2:
            time.sleep(0.5)
        low = [None] * len(q.pods)
        for _ in range(20):
            for i, pod in enumerate(q.pods):
                m = mem(pod.sidecar.pid)
                if low[i] is None or m["VmRSS"] < low[i]["VmRSS"]:
                    low[i] = m
            time.sleep(0.5)
        res["idle_tls"] = max(low, key=lambda x: x["VmRSS"])
        res["snap_peak"] = max(pk.end() for pk in peaks)
    finally:
        q.close()
        shutil.rmtree(store, ignore_errors=True)
    idle = res["idle"]
    print("etcd-medic serve, one sidecar of a 3-member cluster (%d MB of data):" % args.mb)
    print("  idle:  VmRSS %.1f MiB, RssAnon %.1f MiB   (goal: resident <= 8 MiB)" % (
        idle["VmRSS"] / 1024, idle["RssAnon"] / 1024))
    it = res["idle_tls"]
    print("         with TLS (client certificates) and a snapshot every 10 s, between "
          "snapshots, the largest of three: VmRSS %.1f MiB, RssAnon %.1f MiB" % (
              it["VmRSS"] / 1024, it["RssAnon"] / 1024))
    fl = res["floor"]
    print("         reference, same run: a program that only loads libcurl and calls "
          "curl_global_init:")
    print("           with the minimal libcurl etcd-medic links: %.1f MiB" % (fl["minimal"] / 1024))
    if "debian" in fl:
        print("           with Debian's libcurl4 package:          %.1f MiB "
              "(serve / this = %.2f)" % (fl["debian"] / 1024, idle["VmRSS"] / fl["debian"]))
    else:
        print("           (Debian's libcurl4 is not installed: apt-get install libcurl4)")
    print("  heal:  peak RssAnon %.1f MiB             (goal: <= 16 MiB)" % (res["heal"] / 1024))
    print("  snapshots of %d MB every 10 s (TLS, zstd): peak RssAnon %.1f MiB (goal: <= 16 MiB)" % (
        args.mb, res["snap_peak"] / 1024))
    if "validate" in res:
        print("  full validation of a %d MiB db (verdict %s): peak RssAnon %.1f MiB "
              "(goal: <= 16 MiB)" % (res["validate_db"] >> 20, res["validate_verdict"],
                                     res["validate"] / 1024))
    else:
        print("  (no large db at %s: run tests/bench/validate.sh first)" % args.big_data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
