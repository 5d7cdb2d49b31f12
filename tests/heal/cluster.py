#!/usr/bin/env python3
"""cluster.py - a real etcd cluster on loopback for the heal tests.

Every member runs etcd (the version under test, or its own Member.etcd)
from a config file (as in a pod, where the launcher starts etcd with the
config etcd-medic renders), on free loopback ports, in a directory of the
test's own.  Each member has an etcd-medic config beside it.  Everything
started here is stopped by close(), also when a test fails.  Stdlib only.
"""

import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from breakdb import break_key_root  # noqa: E402
from scenario import gw_error  # noqa: E402
import etcdenv  # noqa: E402,F401  (EM_ETCD_BIN and the rest, when run by hand)

ETCD = os.environ["EM_ETCD_BIN"]  # tests/lib/etcd-env.sh: the etcd under test


def free_ports(n):
    """n TCP ports that were free a moment ago (bind-tested)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


class Member:
    def __init__(self, cluster, name, cport, pport):
        self.cluster = cluster
        self.name = name
        self.dir = os.path.join(cluster.work, name)
        self.data_dir = os.path.join(self.dir, "data")
        scheme = "https" if cluster.tls else "http"
        self.client_url = "%s://127.0.0.1:%d" % (scheme, cport)
        self.peer_url = "%s://127.0.0.1:%d" % (scheme, pport)
        self.etcd_config = os.path.join(self.dir, "etcd.yaml")
        self.medic_config = os.path.join(self.dir, "etcd-medic.yaml")
        self.proc = None
        # The etcd binary start() runs: the version under test, unless a
        # test mixes versions in one cluster (tests/upgrade).
        self.etcd = ETCD
        self.log = os.path.join(self.dir, "etcd.log")
        os.makedirs(self.dir, exist_ok=True)

    def write_etcd_config(self, initial_cluster, state):
        c = self.cluster
        lines = [
            "name: %s" % self.name,
            "data-dir: %s" % self.data_dir,
            "listen-client-urls: %s" % self.client_url,
            "advertise-client-urls: %s" % self.client_url,
            "listen-peer-urls: %s" % self.peer_url,
            "initial-advertise-peer-urls: %s" % self.peer_url,
            "initial-cluster: %s" % initial_cluster,
            "initial-cluster-state: %s" % state,
            "initial-cluster-token: %s" % c.token,
            "enable-grpc-gateway: true",
            "snapshot-count: %d" % c.snapshot_count,
            "quota-backend-bytes: 4294967296",
            "max-request-bytes: 10485760",
            "logger: zap",
            "log-outputs: [stderr]",
        ]
        if c.tls:
            for sec in ("client-transport-security", "peer-transport-security"):
                lines += [
                    "%s:" % sec,
                    "  cert-file: %s" % c.pki["server.crt"],
                    "  key-file: %s" % c.pki["server.key"],
                    "  trusted-ca-file: %s" % c.pki["ca.crt"],
                    "  client-cert-auth: true",
                ]
        with open(self.etcd_config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def write_medic_config(self, endpoints, extra=None, **heal):
        """extra: more top-level lines (e.g. listen, watch) for serve."""
        c = self.cluster
        h = {"lock-ttl": "15s", "call-timeout": "3s", "retry-timeout": "60s",
             "promote-timeout": "120s", "quarantine-keep": 2}
        h.update(heal)
        lines = [
            "etcd-config: %s" % self.etcd_config,
            "endpoints: [%s]" % ", ".join(endpoints),
            "log:",
            "  format: text",
            "  level: debug",
            "heal:",
        ] + ["  %s: %s" % (k, v) for k, v in h.items()] + list(extra or [])
        if c.tls:
            lines += ["tls:", "  ca-file: %s" % c.pki["ca.crt"],
                      "  cert-file: %s" % c.pki["client.crt"],
                      "  key-file: %s" % c.pki["client.key"]]
        if c.auth:
            pw = os.path.join(self.dir, "password")
            with open(pw, "w") as f:
                f.write("rootpw\n")
            lines += ["auth:", "  username: root", "  password-file: %s" % pw]
        with open(self.medic_config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, config=None):
        """Starts its etcd (self.etcd) on config (a path; default its own
        etcd.yaml)."""
        assert self.proc is None, "%s already runs" % self.name
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([self.etcd, "--config-file", config or self.etcd_config],
                                     stdout=logf, stderr=logf)
        logf.close()

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc is None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def kill9(self):
        self.stop(signal.SIGKILL)

    def running(self):
        # external: etcd runs under a launcher the caller manages.
        if getattr(self, "external", False):
            return True
        return self.proc is not None and self.proc.poll() is None

    def heal(self, env=None, timeout=300):
        """Runs `etcd-medic heal`; returns (rc, stdout, stderr)."""
        e = dict(os.environ)
        e.update(env or {})
        try:
            p = subprocess.run([self.cluster.medic, "heal", "--config", self.medic_config],
                               capture_output=True, text=True, timeout=timeout, env=e)
            return p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as ex:
            return "timeout", ex.stdout or "", ex.stderr or ""

    def heal_args(self, args, timeout=300):
        """Runs `etcd-medic heal --config ... ARGS`; the CompletedProcess."""
        return subprocess.run([self.cluster.medic, "heal", "--config", self.medic_config] + args,
                              capture_output=True, text=True, timeout=timeout)

    def journal(self):
        return self.data_dir + ".etcd-medic.journal"


class Cluster:
    def __init__(self, n, work, medic, tls=False, auth=False, snapshot_count=10000):
        self.work = work
        self.medic = medic
        self.tls = tls
        self.auth = auth
        self.snapshot_count = snapshot_count
        self.token = "heal-test-%d" % os.getpid()
        self.pki = {}
        os.makedirs(work, exist_ok=True)
        if tls:
            self.make_pki()
        ports = free_ports(2 * n)
        self.members = [Member(self, "m%d" % i, ports[2 * i], ports[2 * i + 1])
                        for i in range(n)]
        initial = ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)
        for m in self.members:
            m.write_etcd_config(initial, "new")
            m.write_medic_config([x.client_url for x in self.members])
        self._ctx = None

    # --- PKI for the TLS variant ------------------------------------------
    def make_pki(self):
        d = os.path.join(self.work, "pki")
        os.makedirs(d, exist_ok=True)

        def run(*a):
            subprocess.run(a, check=True, capture_output=True)
        ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.crt")
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=etcd-medic test CA", "-keyout", ca_key, "-out", ca_crt)
        for who, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                    "extendedKeyUsage=serverAuth,clientAuth"),
                         ("client", "extendedKeyUsage=clientAuth")):
            key, csr, crt = (os.path.join(d, who + x) for x in (".key", ".csr", ".crt"))
            extf = os.path.join(d, who + ".ext")
            with open(extf, "w") as f:
                f.write(ext + "\n")
            run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj",
                "/CN=" + ("root" if who == "client" else "127.0.0.1"), "-keyout", key, "-out", csr)
            run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                "-CAcreateserial", "-days", "2", "-extfile", extf, "-out", crt)
            self.pki[who + ".key"], self.pki[who + ".crt"] = key, crt
        self.pki["ca.crt"] = ca_crt

    # --- talking to etcd ---------------------------------------------------
    def ctx(self):
        if not self.tls:
            return None
        if self._ctx is None:
            c = ssl.create_default_context(cafile=self.pki["ca.crt"])
            c.load_cert_chain(self.pki["client.crt"], self.pki["client.key"])
            self._ctx = c
        return self._ctx

    def call(self, url, path, body=None, timeout=5, token=None):
        req = urllib.request.Request(url + path, json.dumps(body or {}).encode())
        if token:
            req.add_header("Authorization", token)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ctx()) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return json.loads(e.read() or b"{}")

    def token_for(self, url):
        if not self.auth:
            return None
        r = self.call(url, "/v3/auth/authenticate", {"name": "root", "password": "rootpw"})
        return r.get("token")

    def any_call(self, path, body=None, timeout=5):
        last = None
        for m in self.members:
            if not m.running():
                continue
            try:
                r = self.call(m.client_url, path, body, timeout, self.token_for(m.client_url))
                if gw_error(r) is None:
                    return r
                last = r
            except (OSError, ValueError) as e:
                last = e
        raise RuntimeError("no member answers %s: %s" % (path, last))

    def member_list(self):
        return self.any_call("/v3/cluster/member/list").get("members", [])

    def status(self, m, timeout=3):
        try:
            return self.call(m.client_url, "/v3/maintenance/status", {}, timeout,
                             self.token_for(m.client_url))
        except (OSError, ValueError):
            return None

    def started_learner(self, m):
        """m is a learner that has started: its voters list it by name.
        With auth on, a learner answers nothing from 3.5 on (Status needs a
        token, and a learner issues none: Authenticate is not among the
        calls a learner serves), so the voters' view is all there is."""
        try:
            ms = self.member_list()
        except RuntimeError:
            return False
        return any(x.get("name") == m.name and x.get("isLearner") for x in ms)

    def up(self, m):
        s = self.status(m)
        if s and s.get("leader"):
            return True
        return bool(self.auth and self.started_learner(m))

    def wait_healthy(self, members=None, timeout=60):
        """Until every given member answers with a leader (or, with auth
        on, is a learner the voters list as started)."""
        members = members or [m for m in self.members if m.running()]
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(self.up(m) for m in members):
                return
            time.sleep(0.2)
        raise RuntimeError("members %s not healthy after %ss" % (
            [m.name for m in members], timeout))

    def start_all(self):
        for m in self.members:
            m.start()
        self.wait_healthy(self.members)
        if self.auth:
            self.enable_auth()

    def enable_auth(self):
        url = self.members[0].client_url
        self.call(url, "/v3/auth/user/add", {"name": "root", "password": "rootpw"})
        self.call(url, "/v3/auth/user/grant", {"user": "root", "role": "root"})
        self.call(url, "/v3/auth/enable", {})

    def put_many(self, mb, vsize=1536, prefix="/registry/heal/"):
        """Writes mb MiB of values in 128-put transactions; the revision."""
        val = b64(os.urandom(vsize))
        n, per, rev = mb * (1 << 20) // vsize, 128, 0
        for i in range(0, n, per):
            ops = [{"requestPut": {"key": b64("%s%09d" % (prefix, j)), "value": val}}
                   for j in range(i, min(n, i + per))]
            r = self.any_call("/v3/kv/txn", {"success": ops}, timeout=60)
            rev = int(r["header"]["revision"])
        return rev

    def dump(self, m, rev, page=1000):
        """sha256 over every key, its mod revision and value at revision
        rev, read from member m alone (serializable, paginated)."""
        h, key, n = hashlib.sha256(), b"\0", 0
        tok = self.token_for(m.client_url)
        while True:
            r = self.call(m.client_url, "/v3/kv/range",
                          {"key": b64(key), "range_end": b64(b"\0"), "revision": str(rev),
                           "limit": str(page), "serializable": True}, 30, tok)
            if gw_error(r) is not None:
                raise RuntimeError("range on %s: %s" % (m.name, r))
            kvs = r.get("kvs", [])
            for kv in kvs:
                k = base64.b64decode(kv["key"])
                h.update(struct.pack(">I", len(k)) + k)
                h.update(str(kv.get("mod_revision", 0)).encode())
                h.update(base64.b64decode(kv.get("value", "")))
                n += 1
            if not r.get("more"):
                return h.hexdigest(), n
            key = base64.b64decode(kvs[-1]["key"]) + b"\0"

    def damage_db(self, m):
        """A misdirected write on the root page of the key bucket."""
        return break_key_root(os.path.join(m.data_dir, "member", "snap", "db"))

    def close(self):
        for m in self.members:
            try:
                m.kill9()
            except Exception:   # noqa: BLE001 - cleanup must go on
                pass
