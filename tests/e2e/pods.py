#!/usr/bin/env python3
"""pods.py - etcd members run the way a pod runs them, on loopback.

Each "pod" has the sidecar (`etcd-medic serve`) and an etcd container whose
command is the launcher (`etcd-medic-launch -- etcd`), restarted by a small
supervisor thread when it exits, as the kubelet restarts a container.  The
launcher asks the sidecar before every start; the sidecar validates, heals,
and hands out the config; its watch promotes a learner once in sync.

Used by the end-to-end tests (tests/e2e/test_e2e.py) and the local demo
(deploy/local/).  Stdlib only; everything started is stopped by close().
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "heal"))
from cluster import Cluster, free_ports  # noqa: E402,F401

ETCD = os.environ["EM_ETCD_BIN"]  # tests/lib/etcd-env.sh: the etcd under test


def find_binary(build, name):
    for sub in ("src", os.path.join("src", "launch"), "."):
        p = os.path.join(build, sub, name)
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError("%s not found under %s" % (name, build))


class Pod:
    def __init__(self, pods, member, port):
        self.pods = pods
        self.m = member
        self.m.external = True
        self.name = member.name
        self.dir = member.dir
        self.sidecar_url = "http://127.0.0.1:%d" % port
        self.sidecar = None
        self.launcher = None
        self.stop_flag = False
        self.hold = threading.Event()      # set: the supervisor waits
        self.hold.set()
        self.exits = []                    # (time, returncode) of launchers
        self.starts = 0
        self.thread = None
        self.lock = threading.Lock()

    # --- the sidecar -------------------------------------------------------
    def start_sidecar(self):
        log = open(os.path.join(self.dir, "sidecar.log"), "ab")
        self.sidecar = subprocess.Popen(
            [self.pods.medic, "serve", "--config", self.m.medic_config,
             "--log-format", "text"], stdout=log, stderr=log)
        log.close()

    def http(self, path, method="GET", accept=None, timeout=5):
        req = urllib.request.Request(self.sidecar_url + path, method=method,
                                     data=b"" if method == "POST" else None)
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def status(self):
        code, body = self.http("/initialization/status", accept="application/json")
        return json.loads(body) if code == 200 else {}

    # --- the etcd container -------------------------------------------------
    def _supervise(self):
        while not self.stop_flag:
            self.hold.wait()
            if self.stop_flag:
                break
            log = open(os.path.join(self.dir, "etcd.log"), "ab")
            with self.lock:
                self.launcher = subprocess.Popen(
                    [self.pods.launch, "--sidecar", self.sidecar_url,
                     "--status-file", os.path.join(self.dir, "launch.status"),
                     "--config-out", os.path.join(self.dir, "etcd.rendered.yaml"),
                     "--", ETCD], stdout=log, stderr=log)
                self.starts += 1
            log.close()
            rc = self.launcher.wait()
            self.exits.append((time.time(), rc))
            if not self.stop_flag:
                time.sleep(1)       # the kubelet's back-off, shortened

    def start(self):
        self.thread = threading.Thread(target=self._supervise, daemon=True)
        self.thread.start()

    def etcd_pid(self):
        """The etcd process the launcher runs, or None."""
        with self.lock:
            lp = self.launcher.pid if self.launcher else None
        if lp is None:
            return None
        try:
            with open("/proc/%d/task/%d/children" % (lp, lp)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            return None
        return kids[0] if kids else None

    def kill_etcd(self, sig=signal.SIGKILL, hold=False):
        """Kills etcd (the launcher exits with it); with hold, the
        supervisor waits for release() before restarting the container."""
        if hold:
            self.hold.clear()
        pid = self.etcd_pid()
        if pid:
            os.kill(pid, sig)
        with self.lock:
            launcher = self.launcher
        if launcher:
            launcher.wait(30)

    def release(self):
        self.hold.set()

    def close(self):
        self.stop_flag = True
        self.hold.set()
        with self.lock:
            launcher = self.launcher
        if launcher and launcher.poll() is None:
            launcher.send_signal(signal.SIGTERM)
            try:
                launcher.wait(20)
            except subprocess.TimeoutExpired:
                launcher.kill()
        pid = self.etcd_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.sidecar and self.sidecar.poll() is None:
            self.sidecar.send_signal(signal.SIGTERM)
            try:
                self.sidecar.wait(20)
            except subprocess.TimeoutExpired:
                self.sidecar.kill()


class Pods:
    def __init__(self, n, work, build, watch_interval="1s", tls=False, extra=()):
        """tls: etcd serves clients and peers over TLS with client
        certificates; extra: more top-level lines of serve's config."""
        self.medic = find_binary(build, "etcd-medic")
        self.launch = find_binary(build, "etcd-medic-launch")
        shutil.rmtree(work, ignore_errors=True)   # a dir of our own
        self.c = Cluster(n, work, self.medic, tls=tls)
        ports = free_ports(n)
        self.pods = []
        for m, port in zip(self.c.members, ports):
            m.write_medic_config(
                [x.client_url for x in self.c.members],
                extra=["listen: 127.0.0.1:%d" % port,
                       "watch:", "  interval: %s" % watch_interval] + list(extra),
                **{"promote-timeout": "300s"})
            self.pods.append(Pod(self, m, port))

    def start(self, timeout=90):
        for p in self.pods:
            p.start_sidecar()
        time.sleep(0.3)
        for p in self.pods:
            p.start()
        self.c.wait_healthy(self.c.members, timeout)

    def voters_ready(self, timeout=300):
        """Until every member is a voter, answers with a leader, and its
        sidecar says ready."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                ms = self.c.member_list()
                ok = len(ms) == len(self.pods) and not any(m.get("isLearner") for m in ms)
                ok = ok and all(p.http("/readyz")[0] == 200 for p in self.pods)
                if ok:
                    return
            except (OSError, RuntimeError, ValueError):
                pass
            time.sleep(0.3)
        raise RuntimeError("not all members are ready voters after %ss" % timeout)

    def close(self):
        for p in self.pods:
            p.close()
