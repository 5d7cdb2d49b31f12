#!/usr/bin/env python3
"""pods.py - runs what a rendered StatefulSet describes, with the real
binaries, on loopback: the chart's (or kustomize's) configuration fed to
etcd-medic serve, etcd-medic-launch and etcd, so that manifests and code
cannot drift apart.

usage: pods.py --build BUILD --work DIR [--config-only] DUMP.json...

Each DUMP.json is what validate.mjs --dump wrote for one rendering.  For
each, every member of the StatefulSet becomes a "pod" on its own loopback
address (127.R.S.1, .2, ... with the rendered ports): its volumes are
directories (ConfigMaps written out, Secrets from the rendering or made here
with openssl, emptyDirs, claims), and every path the pod spec or the config
files name is rewritten from its mountPath to that directory, as the kubelet
would mount it; the members' DNS names become their addresses.  The
containers run in the pod's order with their rendered command, args and
environment: the init container copies the launcher with the rendered cp
command, the sidecar (native or not) must pass its startup probe, and etcd
runs through the launcher.  Then every probe of the pod spec must answer
200 (the sidecar's /healthz, etcd's /health, /readyz once each member votes),
the helm test pod's own command must pass against the cluster, and a
SIGTERM must stop etcd cleanly (the launcher's status file says clean=yes).
Stdlib only; everything started is stopped.
"""

import argparse
import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from scenario import Failed, check, log, run  # noqa: E402
import etcdenv  # noqa: E402,F401  (EM_ETCD_BIN and the rest, when run by hand)

ETCD = os.environ["EM_ETCD_BIN"]  # tests/lib/etcd-env.sh: the etcd under test


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, **kw)


class PKI:
    """A CA and certificates made at test time (nothing kept in the repo)."""

    def __init__(self, d, ips):
        self.d = d
        self.ips = ips
        os.makedirs(d, exist_ok=True)
        self.ca = os.path.join(d, "ca.crt")
        self.ca_key = os.path.join(d, "ca.key")
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.ca_key,
           "-out", self.ca, "-subj", "/CN=etcd-medic-test-ca", "-days", "2")

    def cert(self, name):
        key = os.path.join(self.d, name + ".key")
        csr = os.path.join(self.d, name + ".csr")
        crt = os.path.join(self.d, name + ".crt")
        ext = os.path.join(self.d, name + ".ext")
        sans = ",".join(["DNS:localhost"] + ["IP:" + ip for ip in self.ips])
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" % sans)
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
           "-subj", "/CN=" + name)
        sh("openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey",
           self.ca_key, "-CAcreateserial", "-days", "2", "-extfile", ext,
           "-out", crt)
        return {"tls.crt": open(crt).read(), "tls.key": open(key).read(),
                "ca.crt": open(self.ca).read()}


def fake_secret(name, pki):
    """What a user (or cert-manager) would put in a Secret the rendering
    only refers to, judged by its name."""
    if name.endswith("-tls"):
        return pki.cert(name)
    if "token" in name:
        return {"token": "%032x\n" % random.getrandbits(128)}
    if "password" in name:
        return {"password": "not-used\n"}
    if "s3" in name:
        return {"credentials": "[default]\naws_access_key_id = test\n"
                               "aws_secret_access_key = test\n"}
    raise Failed("no test content for Secret %s" % name)


def http_get(url, timeout=3):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return None, str(e)


def free_subnet(ports, n):
    """127.R.S.1..n whose every port is free."""
    for _ in range(50):
        r, s = random.randint(100, 250), random.randint(1, 250)
        ips = ["127.%d.%d.%d" % (r, s, i + 1) for i in range(n)]
        ok = True
        for ip in ips:
            for p in ports:
                with socket.socket() as so:
                    try:
                        so.bind((ip, p))
                    except OSError:
                        ok = False
        if ok:
            return ips
    raise Failed("no free loopback subnet for ports %s" % ports)


class Rendering:
    """One rendered StatefulSet run as pods."""

    def __init__(self, dump, build, work):
        with open(dump) as f:
            d = json.load(f)
        self.name = d["name"]
        self.docs = d["docs"]
        self.build = build
        self.work = os.path.join(work, self.name)
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.sts = self.kind("StatefulSet")[0]
        spec = self.sts["spec"]
        self.pod = spec["template"]["spec"]
        self.replicas = spec["replicas"]
        self.peer = spec["serviceName"]
        self.client = [s["metadata"]["name"] for s in self.kind("Service")
                       if s["spec"].get("clusterIP") != "None"][0]
        self.inits = self.pod.get("initContainers", [])
        self.mains = self.pod["containers"]
        ports = set()
        for c in self.inits + self.mains:
            for p in c.get("ports", []):
                ports.add(p["containerPort"])
        self.ips = free_subnet(sorted(ports), self.replicas)
        self.pki = PKI(os.path.join(self.work, "pki"), self.ips)
        self.secrets = {}
        for s in self.kind("Secret"):
            data = {k: base64.b64decode(v).decode() for k, v in s.get("data", {}).items()}
            data.update(s.get("stringData", {}))
            self.secrets[s["metadata"]["name"]] = data
        self.procs = []
        self.members = []

    def kind(self, k):
        return [o for o in self.docs if o["kind"] == k]

    def member_name(self, i):
        return "%s-%d" % (self.sts["metadata"]["name"], i)

    # ---- volumes and rewriting ----------------------------------------

    def volumes(self, i, root):
        """Makes the pod's volumes as directories; returns name -> dir."""
        dirs = {}
        for t in self.sts["spec"].get("volumeClaimTemplates", []):
            dirs[t["metadata"]["name"]] = os.path.join(root, "pvc", t["metadata"]["name"])
        for v in self.pod.get("volumes", []):
            n = v["name"]
            if "persistentVolumeClaim" in v:   # shared by every member
                dirs[n] = os.path.join(self.work, "claims", v["persistentVolumeClaim"]["claimName"])
            else:
                dirs[n] = os.path.join(root, "vol", n)
        for d in dirs.values():
            os.makedirs(d, exist_ok=True)
        return dirs

    def fill(self, i, dirs, rewrite):
        """ConfigMaps (rewritten) and Secrets into their directories."""
        for v in self.pod.get("volumes", []):
            d = dirs[v["name"]]
            if "configMap" in v:
                cm = [c for c in self.kind("ConfigMap")
                      if c["metadata"]["name"] == v["configMap"]["name"]][0]
                for k, text in cm.get("data", {}).items():
                    with open(os.path.join(d, k), "w") as f:
                        f.write(rewrite(text))
            elif "secret" in v:
                n = v["secret"]["secretName"]
                if n not in self.secrets:
                    self.secrets[n] = fake_secret(n, self.pki)
                items = v["secret"].get("items") or [
                    {"key": k, "path": k} for k in self.secrets[n]]
                for it in items:
                    check(it["key"] in self.secrets[n],
                          "Secret %s has no key %s" % (n, it["key"]))
                    p = os.path.join(d, it["path"])
                    with open(p, "w") as f:
                        f.write(self.secrets[n][it["key"]])
                    os.chmod(p, v["secret"].get("defaultMode", 0o644))

    def rewriter(self, i, dirs, containers):
        """A function that turns pod paths and names into this machine's."""
        paths = {}
        for c in containers:
            for m in c.get("volumeMounts", []):
                paths[m["mountPath"]] = dirs[m["name"]]
        src = os.path.join(self.build, "src")
        paths["/usr/local/bin/etcd-medic-launch"] = os.path.join(src, "launch", "etcd-medic-launch")
        paths["/usr/local/bin/etcd-medic"] = os.path.join(src, "etcd-medic")
        etcd = [c for c in self.mains if c["name"] == "etcd"][0]
        cmd = etcd["command"]
        paths[cmd[cmd.index("--") + 1]] = ETCD
        keys = sorted(paths, key=len, reverse=True)
        path_re = re.compile(r"(?<![\w.-])(%s)(?=/|$|[^\w.-])" % "|".join(map(re.escape, keys)))
        sts = re.escape(self.sts["metadata"]["name"])
        member_re = re.compile(r"(\$\{POD_NAME\}|%s-(\d+))\.%s\.[^.:/\s]+\.svc(\.cluster\.local)?"
                               % (sts, re.escape(self.peer)))
        client_re = re.compile(r"(?<![\w.-])%s(\.[^.:/\s]+\.svc(\.cluster\.local)?)?(?=:)"
                               % re.escape(self.client))
        ip = self.ips[i]

        def member_ip(m):
            return ip if m.group(2) is None else self.ips[int(m.group(2))]

        def rewrite(s):
            s = member_re.sub(member_ip, s)
            s = client_re.sub(self.ips[0], s)
            s = s.replace("0.0.0.0", ip).replace("127.0.0.1", ip)
            return path_re.sub(lambda m: paths[m.group(1)], s)
        return rewrite

    def env(self, c, i, rewrite):
        e = {"PATH": os.path.join(self.build, "src") + ":" + os.environ["PATH"],
             "HOME": os.environ.get("HOME", "/root")}
        for v in c.get("env", []):
            if "value" in v:
                e[v["name"]] = rewrite(v["value"])
            else:
                f = v["valueFrom"]["fieldRef"]["fieldPath"]
                e[v["name"]] = {"metadata.name": self.member_name(i),
                                "metadata.namespace": self.sts["metadata"].get("namespace", "default"),
                                "status.podIP": self.ips[i]}[f]
        return e

    # ---- containers -----------------------------------------------------

    def start(self, c, i, m, rewrite):
        argv = [rewrite(a) for a in c.get("command", [])]
        args = [rewrite(a) for a in c.get("args", [])]
        if not argv:   # the image's entrypoint
            argv = [os.path.join(self.build, "src", "etcd-medic")]
        log_path = os.path.join(m["root"], c["name"] + ".log")
        p = subprocess.Popen(argv + args, env=self.env(c, i, rewrite),
                             stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((p, log_path))
        return p

    def probe_url(self, i, probe):
        g = probe["httpGet"]
        return "http://%s:%d%s" % (self.ips[i], g["port"], g.get("path", "/"))

    def wait_probe(self, i, c, what, limit, proc=None):
        url = self.probe_url(i, c[what])
        t0 = time.time()
        last = None
        while time.time() - t0 < limit:
            check(proc is None or proc.poll() is None, "%s: %s exited %s before its %s passed"
                  % (self.member_name(i), c["name"], proc and proc.returncode, what))
            last = http_get(url)
            if last[0] == 200:
                return time.time() - t0
            time.sleep(0.2)
        raise Failed("%s %s of %s: %s answers %s" % (self.member_name(i), what, c["name"], url, last))

    def up(self):
        all_c = self.inits + self.mains
        for i in range(self.replicas):
            root = os.path.join(self.work, self.member_name(i))
            dirs = self.volumes(i, root)
            rewrite = self.rewriter(i, dirs, all_c)
            self.fill(i, dirs, rewrite)
            self.members.append({"root": root, "dirs": dirs, "rewrite": rewrite, "procs": {}})
        # Every pod at once (podManagementPolicy Parallel), each in its
        # containers' order.
        for i, m in enumerate(self.members):
            for c in self.inits:
                p = self.start(c, i, m, m["rewrite"])
                if c.get("restartPolicy") == "Always":
                    m["procs"][c["name"]] = p
                    t = self.wait_probe(i, c, "startupProbe",
                                        c["startupProbe"].get("periodSeconds", 10) *
                                        c["startupProbe"].get("failureThreshold", 3), p)
                    log("%s: native sidecar %s started (startup probe after %.1f s)"
                        % (self.member_name(i), c["name"], t))
                else:
                    rc = p.wait(timeout=30)
                    check(rc == 0, "%s: init container %s exited %d" % (self.member_name(i), c["name"], rc))
            for c in self.mains:
                m["procs"][c["name"]] = self.start(c, i, m, m["rewrite"])
        t0 = time.time()
        for i in range(self.replicas):
            for c in all_c:
                if c["name"] in self.members[i]["procs"] and c.get("startupProbe") and c.get("restartPolicy") != "Always":
                    self.wait_probe(i, c, "startupProbe", 60)
            for c in all_c:
                for what in ("readinessProbe", "livenessProbe"):
                    if c.get(what) and c["name"] in self.members[i]["procs"]:
                        self.wait_probe(i, c, what, 60)
        log("%s: %d members up, every probe 200 (%.1f s)" % (self.name, self.replicas, time.time() - t0))

    def config_only(self):
        """Only member 0's sidecar: serve must accept the rendered config
        (etcd-medic refuses unknown keys, wrong types, bad paths) and start;
        for renderings whose etcd this machine cannot run as they are
        (authentication on, an object store)."""
        all_c = self.inits + self.mains
        root = os.path.join(self.work, self.member_name(0))
        dirs = self.volumes(0, root)
        rewrite = self.rewriter(0, dirs, all_c)
        self.fill(0, dirs, rewrite)
        m = {"root": root, "dirs": dirs, "rewrite": rewrite, "procs": {}}
        c = [c for c in all_c if c["name"] == "etcd-medic"][0]
        p = self.start(c, 0, m, rewrite)
        self.wait_probe(0, c, "startupProbe", 30, p)
        p.send_signal(signal.SIGTERM)
        check(p.wait(timeout=15) == 0, "serve exited %s on SIGTERM" % p.returncode)
        log("%s: serve accepts the rendered config, starts and stops" % self.name)

    def helm_test(self):
        pods = [p for p in self.kind("Pod")
                if p["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
        for pod in pods:
            root = os.path.join(self.work, pod["metadata"]["name"])
            dirs = {}
            for v in pod["spec"].get("volumes", []):
                dirs[v["name"]] = os.path.join(root, "vol", v["name"])
                os.makedirs(dirs[v["name"]], exist_ok=True)
            saved, self.pod = self.pod, pod["spec"]
            try:
                rewrite = self.rewriter(0, dirs, pod["spec"]["containers"])
                self.fill(0, dirs, rewrite)
                for c in pod["spec"]["containers"]:
                    argv = [rewrite(a) for a in c.get("command", []) + c.get("args", [])]
                    r = subprocess.run(argv, env=self.env(c, 0, rewrite), capture_output=True,
                                       text=True, timeout=60)
                    check(r.returncode == 0, "helm test %s failed (%d): %s %s"
                          % (pod["metadata"]["name"], r.returncode, r.stdout, r.stderr))
                    log("%s: helm test pod passes: %s" % (self.name, r.stdout.strip().splitlines()[-1]))
            finally:
                self.pod = saved

    def down(self):
        """SIGTERM as the kubelet sends it: etcd (the launcher) first, the
        sidecar after; etcd's stop must be recorded as clean."""
        for i, m in enumerate(self.members):
            p = m["procs"].get("etcd")
            if p is None:
                continue
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=30)
            check(rc in (0, 143), "%s: the launcher exited %d on SIGTERM" % (self.member_name(i), rc))
            etcd = [c for c in self.mains if c["name"] == "etcd"][0]
            cmd = etcd["command"]
            status = m["rewrite"](cmd[cmd.index("--status-file") + 1])
            with open(status) as f:
                text = f.read()
            check("clean=yes" in text, "%s: status file after SIGTERM: %s" % (self.member_name(i), text))
        for m in self.members:
            for n, p in m["procs"].items():
                if n != "etcd":
                    p.send_signal(signal.SIGTERM)
                    check(p.wait(timeout=15) == 0, "%s exited %s on SIGTERM" % (n, p.returncode))
        log("%s: stopped cleanly" % self.name)

    def kill_all(self):
        for p, _ in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()

    def tails(self):
        for p, path in self.procs:
            try:
                with open(path, errors="replace") as f:
                    lines = f.readlines()[-8:]
            except OSError:
                continue
            print("---- %s (exit %s)" % (path, p.poll()))
            sys.stdout.write("".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--config-only", action="store_true",
                    help="start only member 0's sidecar")
    ap.add_argument("dumps", nargs="+")
    a = ap.parse_args()
    a.work = os.path.abspath(a.work)
    os.makedirs(a.work, exist_ok=True)

    def scenario(dump):
        def go():
            r = Rendering(dump, os.path.abspath(a.build), a.work)
            try:
                if a.config_only:
                    r.config_only()
                    return
                r.up()
                r.helm_test()
                r.down()
            except BaseException:
                r.tails()
                raise
            finally:
                r.kill_all()
        return go

    scenarios = {os.path.basename(d)[:-5]: scenario(d) for d in a.dumps}
    return run(scenarios, list(scenarios), a.work)


if __name__ == "__main__":
    sys.exit(main())
