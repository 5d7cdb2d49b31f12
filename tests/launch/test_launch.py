#!/usr/bin/env python3
"""test_launch.py - etcd-medic-launch with the real sidecar (`etcd-medic
serve`) and real etcd (Debian's 3.4), on loopback.

  test_launch.py --medic BIN --launch BIN --work DIR [--sanitize NAME]
                 [--only NAME[,NAME]]

Each scenario has its own member (an etcd config and a sidecar config, as
in tests/heal/cluster.py) and its own `serve`.  Where the launcher's own
behaviour is clearer with a child that is not etcd, the child is child.py
(records its arguments and the signals it gets) or /bin/sh; the sidecar is
always the real `serve`, whose initialization runs on an empty data dir of
a new single-member cluster succeed at once.

Scenarios:
  usage        --help, --version, bad options and variables; the binary is
               static (unless built with the sanitizers)
  exit-status  etcd's exit status is the launcher's and is recorded; the
               next start asks for mode=sanity after a clean exit and
               mode=full otherwise; --config-file appended; the launcher's
               variables are not passed on
  signals      SIGHUP, SIGINT, SIGQUIT, SIGTERM forwarded in order; death
               by a forwarded SIGTERM or SIGINT is clean, by SIGKILL, by a
               SIGTERM the launcher did not send, or by SIGHUP is not
  orphans      children reparented to the launcher are reaped, also as
               PID 1 of a PID namespace (when unshare works here)
  down         the sidecar down at start: the launcher waits (logging each
               wait) and goes on when it appears; SIGTERM while waiting
               exits 143 at once without starting anything; --wait-timeout
  config       /config written atomically (a new file renamed over the old
               one, mode 0600, no temp file left); an unwritable place
               stops the launch
  token        a sidecar with a bearer token: --token-file
  failed       the sidecar answers Failed (a corrupt db it may not heal),
               the launcher starts again with a backoff, and goes on once
               the db is repaired
  etcd         real etcd: SIGTERM reaches it, it exits cleanly, the status
               file says clean, the next start is sanity; kill -9 of etcd:
               137, not clean, the next start is full; data kept
Exit status 0 when every scenario passed, 77 when `serve` does not exist.
"""

import argparse
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "heal"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from scenario import Failed, check, log  # noqa: E402
from cluster import Cluster, free_ports  # noqa: E402

CHILD = os.path.join(HERE, "child.py")
ARGS = None
PROCS = []          # everything started, killed at the end




def wait_for(what, cond, timeout=20, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise Failed("timed out after %ss waiting for %s" % (
        timeout, what() if callable(what) else what))


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return default


def kill_tree(pid):
    """SIGKILL pid and everything below it (a launcher killed alone would
    leave its etcd behind)."""
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += children(p)
    for p in seen:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def spawn(args, logpath, env=None):
    logf = open(logpath, "ab")
    p = subprocess.Popen(args, stdout=logf, stderr=logf, env=env)
    logf.close()
    PROCS.append(p)
    return p


# --- the member: its configs and its sidecar ----------------------------------

class Member:
    """One etcd member's configs and its `etcd-medic serve`."""

    def __init__(self, name, extra=None):
        self.work = os.path.join(ARGS.work, name)
        shutil.rmtree(self.work, ignore_errors=True)
        self.c = Cluster(1, self.work, ARGS.medic)
        self.m = self.c.members[0]
        self.m.external = True      # etcd runs under the launcher
        self.dir = self.m.dir
        self.port = free_ports(1)[0]
        self.url = "http://127.0.0.1:%d" % self.port
        self.m.write_medic_config([self.m.client_url],
                                  extra=["listen: 127.0.0.1:%d" % self.port] + (extra or []),
                                  **{"call-timeout": "1s", "retry-timeout": "5s"})
        self.serve_log = os.path.join(self.dir, "serve.log")
        self.sidecar = None
        self.status_file = os.path.join(self.dir, "launch.status")
        self.config_out = os.path.join(self.dir, "etcd.rendered.yaml")
        self.record = os.path.join(self.dir, "child.record")

    def start_sidecar(self):
        self.sidecar = spawn([ARGS.medic, "serve", "--config", self.m.medic_config,
                              "--log-format", "text"], self.serve_log)
        wait_for("the sidecar on %s" % self.url,
                 lambda: self.sidecar.poll() is not None or self.http("/healthz")[0] == 200)
        check(self.sidecar.poll() is None, "serve exited (%s):\n%s" % (
            self.sidecar.returncode, read(self.serve_log, "")[-2000:]))

    def stop_sidecar(self):
        if self.sidecar and self.sidecar.poll() is None:
            self.sidecar.send_signal(signal.SIGTERM)
            try:
                self.sidecar.wait(20)
            except subprocess.TimeoutExpired:
                self.sidecar.kill()
                self.sidecar.wait()

    def http(self, path, method="GET", accept=None, token=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=b"" if method == "POST" else None)
        if accept:
            req.add_header("Accept", accept)
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError as e:
            return 0, str(e)

    def last_mode(self, token=None):
        """The mode of the sidecar's last initialization run."""
        code, body = self.http("/initialization/status", accept="application/json",
                               token=token)
        check(code == 200, "status JSON: HTTP %s %s" % (code, body))
        return json.loads(body).get("mode")

    def status(self):
        """The launcher's status file as a dict."""
        text = read(self.status_file)
        check(text is not None, "no status file %s" % self.status_file)
        return dict(line.split("=", 1) for line in text.splitlines()
                    if "=" in line and not line.startswith("#"))

    def records(self):
        return read(self.record, "").splitlines()

    def child_env(self, **kw):
        env = dict(os.environ)
        env["CHILD_RECORD"] = self.record
        env.update(kw)
        return env

    def launch(self, cmd, env=None, extra=None, name="launch", sidecar=True):
        """Starts the launcher on cmd; its Popen (log in DIR/NAME.log)."""
        args = [ARGS.launch, "--status-file", self.status_file,
                "--config-out", self.config_out, "--log-format", "text"]
        if sidecar:
            args += ["--sidecar", self.url]
        p = spawn(args + (extra or []) + ["--"] + cmd,
                  os.path.join(self.dir, name + ".log"), env)
        p.logpath = os.path.join(self.dir, name + ".log")
        return p

    def close(self):
        self.stop_sidecar()
        self.c.close()


def launcher_log(p):
    return read(p.logpath, "")


def wait_exit(p, timeout=30):
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        raise Failed("the launcher did not exit within %ss; its log:\n%s" % (
            timeout, launcher_log(p)[-3000:]))


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_stat(pid):
    """(state, ppid) of pid, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def zombies_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == pid and st[0] == "Z":
                out.append(int(d))
    return out


def wait_child_started(mem, p, n=1):
    wait_for(lambda: "the child to start (launcher log:\n%s)" % launcher_log(p)[-1500:],
             lambda: len([r for r in mem.records() if r.startswith("start ")]) >= n
             or p.poll() is not None, timeout=60)
    check(p.poll() is None, "the launcher exited %s before its child started:\n%s" % (
        p.returncode, launcher_log(p)[-3000:]))


# --- scenarios ----------------------------------------------------------------

def t_usage():
    L = ARGS.launch
    r = subprocess.run([L, "--version"], capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.startswith("etcd-medic-launch "),
          "--version: %s %r" % (r.returncode, r.stdout))
    r = subprocess.run([L, "--help"], capture_output=True, text=True)
    check(r.returncode == 0, "--help exit %s" % r.returncode)
    for word in ("ETCD_MEDIC_SIDECAR", "ETCD_MEDIC_STATUS_FILE", "ETCD_MEDIC_CONFIG_OUT",
                 "ETCD_MEDIC_WAIT_TIMEOUT", "ETCD_MEDIC_TOKEN_FILE", "--config-file",
                 "mode=sanity", "mode=full"):
        check(word in r.stdout, "--help does not mention %s" % word)
    env = dict(os.environ, ETCD_MEDIC_SIDECAR="http://sidecar.example:8080")
    for args, env_, word in (([], None, "no etcd command"),
                             (["--bogus", "--", "true"], None, "unknown option"),
                             (["--sidecar"], None, "needs a value"),
                             (["--sidecar", "http://sidecar:8080", "--", "true"], None,
                              "not an IP address"),
                             (["--sidecar", "https://127.0.0.1:1", "--", "true"], None, "https"),
                             (["--wait-timeout", "soon", "--", "true"], None, "bad duration"),
                             (["--log-format", "xml", "--", "true"], None, "json nor text"),
                             (["--", "true"], env, "ETCD_MEDIC_SIDECAR")):
        r = subprocess.run([L] + args, capture_output=True, text=True, env=env_)
        check(r.returncode == 2 and word in r.stderr,
              "%s: exit %s, stderr %r (wanted 2 and %r)" % (args, r.returncode, r.stderr, word))
    if ARGS.sanitize not in ("", "none"):
        log("  built with -Db_sanitize=%s: not static, by design" % ARGS.sanitize)
        return
    with open(L, "rb") as f:
        elf = f.read()
    check(elf[:4] == b"\x7fELF" and elf[4] == 2, "not a 64-bit ELF file")
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    types = [struct.unpack_from("<I", elf, phoff + i * phentsize)[0] for i in range(phnum)]
    check(3 not in types, "the launcher has an ELF interpreter: not static")
    check(2 not in types, "the launcher has a dynamic section: not static")
    if shutil.which("file"):
        out = subprocess.run(["file", "-L", L], capture_output=True, text=True).stdout
        check("statically linked" in out, "file(1) says: %s" % out)
    log("  static: no interpreter, no dynamic section")


def t_exit_status():
    mem = Member("exit-status")
    try:
        mem.start_sidecar()
        # The first start knows nothing of a previous exit: full.
        p = mem.launch(["/bin/sh", "-c", "exit 3"])
        check(wait_exit(p) == 3, "exit 3 of the child: launcher exit %s" % p.returncode)
        st = mem.status()
        check(st.get("state") == "exited" and st.get("exit-status") == "3" and
              st.get("signal") == "none" and st.get("clean") == "no", "status file: %s" % st)
        check(st.get("time", "").endswith("Z"), "no time in the status file: %s" % st)
        check(mem.last_mode() == "full", "first start: mode %s" % mem.last_mode())

        # After a crash (exit 3): full again; this one exits 0.
        p = mem.launch([sys.executable, CHILD], env=mem.child_env(CHILD_ON="TERM=exit0"),
                       name="launch2")
        wait_child_started(mem, p)
        check(mem.last_mode() == "full", "after exit 3: mode %s" % mem.last_mode())
        argv = json.loads(mem.records()[0].split(" ", 1)[1])["argv"]
        check(argv[-2:] == ["--config-file", mem.config_out],
              "the child's arguments do not end in --config-file FILE: %s" % argv)
        code, body = mem.http("/config")
        check(code == 200 and read(mem.config_out) == body,
              "the config file differs from GET /config (HTTP %s)" % code)
        p.send_signal(signal.SIGTERM)
        check(wait_exit(p) == 0, "clean exit 0: launcher exit %s" % p.returncode)
        check(mem.status().get("clean") == "yes", "exit 0 not clean: %s" % mem.status())

        # After the clean exit: sanity.  The sidecar named by the variable;
        # the variables are not passed on to the child.
        os.unlink(mem.record)
        env = mem.child_env(ETCD_MEDIC_SIDECAR=mem.url, ETCD_MEDIC_HTTP_TIMEOUT="10s")
        p = mem.launch([sys.executable, CHILD], env=env, name="launch3", sidecar=False)
        wait_child_started(mem, p)
        check(mem.last_mode() == "sanity", "after a clean exit: mode %s" % mem.last_mode())
        cenv = json.loads(mem.records()[0].split(" ", 1)[1])["env"]
        check(cenv == {}, "the child got the launcher's variables: %s" % cenv)
        # Killed by a signal nobody forwarded: 128+N, not clean.
        os.kill(children(p.pid)[0], signal.SIGUSR1)
        check(wait_exit(p) == 128 + signal.SIGUSR1, "SIGUSR1: exit %s" % p.returncode)
        st = mem.status()
        check(st.get("signal") == "SIGUSR1" and st.get("exit-status") == "138" and
              st.get("clean") == "no", "status file after SIGUSR1: %s" % st)

        p = mem.launch(["/bin/true"], name="launch4")
        check(wait_exit(p) == 0, "/bin/true: exit %s" % p.returncode)
        check(mem.last_mode() == "full", "after death by SIGUSR1: mode %s" % mem.last_mode())
        # A program that does not exist: 127, the reason logged.
        p = mem.launch(["/nonexistent/etcd"], name="launch5")
        check(wait_exit(p) == 127, "missing program: exit %s" % p.returncode)
        check("cannot run /nonexistent/etcd" in launcher_log(p), "no reason logged")
        # A status file that says nothing useful: full.
        with open(mem.status_file, "w") as f:
            f.write("clean=maybe\n")
        p = mem.launch(["/bin/true"], name="launch6")
        check(wait_exit(p) == 0, "/bin/true: exit %s" % p.returncode)
        check(mem.last_mode() == "full", "unreadable status: mode %s" % mem.last_mode())
    finally:
        mem.close()


def t_signals():
    mem = Member("signals")
    try:
        mem.start_sidecar()
        # HUP, INT, QUIT recorded, TERM ends the child with exit 0.
        p = mem.launch([sys.executable, CHILD], env=mem.child_env())
        wait_child_started(mem, p)
        for n, sig in enumerate((signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)):
            p.send_signal(sig)
            wait_for("the child to get %s" % sig.name,
                     lambda: len([r for r in mem.records() if r.startswith("signal")]) > n)
        p.send_signal(signal.SIGTERM)
        check(wait_exit(p) == 0, "exit %s after SIGTERM" % p.returncode)
        got = [r.split()[1] for r in mem.records() if r.startswith("signal")]
        check(got == ["HUP", "INT", "QUIT", "TERM"], "signals the child got: %s" % got)
        check(mem.status().get("clean") == "yes", "status: %s" % mem.status())
        check("forwarding SIGQUIT" in launcher_log(p), "forwarding not logged")

        cases = [
            # (what, CHILD_ON, how to end it, exit status, signal, clean)
            ("forwarded SIGTERM, died of it", "TERM=die", "launcher:TERM", 143, "SIGTERM", "yes"),
            ("forwarded SIGINT, died of it", "INT=die", "launcher:INT", 130, "SIGINT", "yes"),
            ("forwarded SIGHUP, died of it", "HUP=die", "launcher:HUP", 129, "SIGHUP", "no"),
            ("SIGKILL", "", "child:KILL", 137, "SIGKILL", "no"),
            ("SIGTERM not from the launcher", "TERM=die", "child:TERM", 143, "SIGTERM", "no"),
        ]
        for i, (what, on, how, code, sig, clean) in enumerate(cases):
            os.unlink(mem.record)
            p = mem.launch([sys.executable, CHILD], env=mem.child_env(CHILD_ON=on),
                           name="launch-%d" % i)
            wait_child_started(mem, p)
            who, name = how.split(":")
            s = getattr(signal, "SIG" + name)
            if who == "launcher":
                p.send_signal(s)
            else:
                os.kill(children(p.pid)[0], s)
            check(wait_exit(p) == code, "%s: exit %s, wanted %s" % (what, p.returncode, code))
            st = mem.status()
            check(st.get("signal") == sig and st.get("clean") == clean and
                  st.get("exit-status") == str(code), "%s: status file %s" % (what, st))
            log("  %s: exit %d, clean=%s" % (what, code, clean))
    finally:
        mem.close()


def t_orphans():
    mem = Member("orphans")
    try:
        mem.start_sidecar()
        p = mem.launch([sys.executable, CHILD], env=mem.child_env(CHILD_ORPHAN="1"))
        wait_child_started(mem, p)
        time.sleep(1.0)     # the orphan exits 0.3 s after it is made
        z = zombies_of(p.pid)
        check(not z, "zombies left under the launcher: %s" % z)
        p.send_signal(signal.SIGTERM)
        check(wait_exit(p) == 0, "exit %s" % p.returncode)

        # As PID 1 of a PID namespace, as in the container.
        if subprocess.run(["unshare", "--pid", "--fork", "true"],
                          capture_output=True).returncode != 0:
            log("  unshare --pid does not work here: PID 1 case skipped")
            return
        os.unlink(mem.record)
        args = ["unshare", "--pid", "--fork", ARGS.launch, "--sidecar", mem.url,
                "--status-file", mem.status_file, "--config-out", mem.config_out,
                "--log-format", "text", "--", sys.executable, CHILD]
        u = spawn(args, os.path.join(mem.dir, "pid1.log"),
                  mem.child_env(CHILD_ORPHAN="1"))
        u.logpath = os.path.join(mem.dir, "pid1.log")
        wait_child_started(mem, u)
        launcher = children(u.pid)[0]
        time.sleep(1.0)
        z = zombies_of(launcher)
        check(not z, "zombies left under the launcher as PID 1: %s" % z)
        os.kill(launcher, signal.SIGTERM)
        check(wait_exit(u) == 0, "PID 1: exit %s" % u.returncode)
        check(mem.records()[-1] == "signal TERM", "records: %s" % mem.records())
        log("  as PID 1: orphan reaped, SIGTERM forwarded")
    finally:
        mem.close()


def t_down():
    mem = Member("down")
    try:
        # Down at start, up 2 s later.
        p = mem.launch([sys.executable, CHILD], env=mem.child_env())
        wait_for("two waits logged",
                 lambda: launcher_log(p).count("waiting for the sidecar") >= 2)
        check(not mem.records(), "the child started without the sidecar")
        time.sleep(1.0)
        mem.start_sidecar()
        wait_child_started(mem, p)
        check("the sidecar at %s answers" % mem.url in launcher_log(p), "recovery not logged")
        p.send_signal(signal.SIGTERM)
        check(wait_exit(p) == 0, "exit %s" % p.returncode)
        mem.stop_sidecar()

        # SIGTERM while waiting: 143 at once, nothing started or written.
        os.unlink(mem.record)
        os.unlink(mem.config_out)
        before = read(mem.status_file)
        p = mem.launch([sys.executable, CHILD], env=mem.child_env(), name="launch-term")
        wait_for("a wait logged", lambda: "waiting for the sidecar" in launcher_log(p))
        time.sleep(0.6)
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        check(wait_exit(p, 10) == 143, "SIGTERM while waiting: exit %s" % p.returncode)
        took = time.time() - t0
        check(took < 1.0, "SIGTERM while waiting took %.2fs" % took)
        check(not mem.records(), "the child ran")
        check(not os.path.exists(mem.config_out), "a config was written")
        check(read(mem.status_file) == before, "the status file changed")
        log("  SIGTERM while waiting: 143 after %.0f ms" % (took * 1000))

        # --wait-timeout: gives up with 1.
        t0 = time.time()
        p = mem.launch([sys.executable, CHILD], env=mem.child_env(), name="launch-timeout",
                       extra=["--wait-timeout", "1500ms"])
        check(wait_exit(p, 15) == 1, "wait timeout: exit %s" % p.returncode)
        took = time.time() - t0
        check(1.4 < took < 5, "--wait-timeout 1500ms took %.2fs" % took)
        check("wait timeout" in launcher_log(p), "timeout not logged")
    finally:
        mem.close()


def t_config():
    mem = Member("config")
    try:
        mem.start_sidecar()
        with open(mem.config_out, "w") as f:
            f.write("old: 1\n")
        os.chmod(mem.config_out, 0o644)
        old = open(mem.config_out)
        ino = os.stat(mem.config_out).st_ino
        p = mem.launch(["/bin/true"])
        check(wait_exit(p) == 0, "exit %s" % p.returncode)
        st = os.stat(mem.config_out)
        check(st.st_ino != ino, "the config was rewritten in place, not renamed over")
        check(stat.S_IMODE(st.st_mode) == 0o600, "mode %o" % stat.S_IMODE(st.st_mode))
        check(old.read() == "old: 1\n", "the old file changed under its reader")
        old.close()
        code, body = mem.http("/config")
        check(code == 200 and read(mem.config_out) == body and "name: " in body,
              "config file differs from GET /config")
        left = [f for f in os.listdir(mem.dir) if ".tmp." in f]
        check(not left, "temp files left: %s" % left)

        # Nowhere to write it: exit 1, the child never runs.
        p = mem.launch([sys.executable, CHILD], env=mem.child_env(), name="launch-nodir",
                       extra=["--config-out", os.path.join(mem.dir, "missing", "etcd.yaml")])
        check(wait_exit(p) == 1, "unwritable config: exit %s" % p.returncode)
        check(not mem.records(), "the child ran")
        check("cannot write the etcd config" in launcher_log(p), "not logged")
    finally:
        mem.close()


def t_token():
    tokfile = os.path.join(ARGS.work, "sidecar.token")
    with open(tokfile, "w") as f:
        f.write("s3cret-token\n")
    mem = Member("token", extra=["server:", "  token-file: %s" % tokfile])
    try:
        mem.start_sidecar()
        p = mem.launch(["/bin/true"], extra=["--wait-timeout", "2s"])
        check(wait_exit(p) == 1, "without the token: exit %s" % p.returncode)
        check("HTTP 401" in launcher_log(p), "401 not logged:\n%s" % launcher_log(p)[-1000:])
        p = mem.launch(["/bin/true"], extra=["--token-file", tokfile], name="launch-token")
        check(wait_exit(p) == 0, "with the token: exit %s:\n%s" % (
            p.returncode, launcher_log(p)[-2000:]))
    finally:
        mem.close()


def etcd_healthy(mem):
    st = mem.c.status(mem.m)
    return bool(st and st.get("leader"))


def etcd_get(mem, key):
    import base64
    r = mem.c.call(mem.m.client_url, "/v3/kv/range",
                   {"key": base64.b64encode(key.encode()).decode()})
    kvs = r.get("kvs", [])
    return base64.b64decode(kvs[0]["value"]).decode() if kvs else None


def etcd_put(mem, key, value):
    import base64
    r = mem.c.call(mem.m.client_url, "/v3/kv/put",
                   {"key": base64.b64encode(key.encode()).decode(),
                    "value": base64.b64encode(value.encode()).decode()})
    check("header" in r, "put failed: %s" % r)


def run_etcd(mem, name):
    """Starts the launcher on real etcd and waits until etcd answers."""
    p = mem.launch([ARGS.etcd], name=name)
    wait_for(lambda: "etcd under the launcher (log:\n%s)" % launcher_log(p)[-2000:],
             lambda: p.poll() is not None or etcd_healthy(mem), timeout=90, step=0.2)
    check(p.poll() is None, "the launcher exited %s:\n%s" % (
        p.returncode, launcher_log(p)[-3000:]))
    return p


def t_failed():
    mem = Member("failed")
    try:
        mem.start_sidecar()
        p = run_etcd(mem, "launch-1")
        etcd_put(mem, "/launch/failed", "kept")
        mem.c.put_many(1)   # a key bucket of its own pages, to damage
        p.send_signal(signal.SIGTERM)
        check(wait_exit(p) in (0, 143), "stop: exit %s" % p.returncode)
        db = os.path.join(mem.m.data_dir, "member", "snap", "db")
        shutil.copy(db, db + ".good")
        mem.c.damage_db(mem.m)
        r = subprocess.run([ARGS.medic, "validate", "--data-dir", mem.m.data_dir],
                           capture_output=True, text=True)
        check(r.returncode == 1, "the damaged db is not corrupt to validate: %s %s" % (
            r.returncode, r.stdout))
        os.unlink(mem.status_file)          # unknown: full check
        p = mem.launch([ARGS.etcd], name="launch-2")
        wait_for(lambda: "two Failed answers (log:\n%s)" % launcher_log(p)[-2000:],
                 lambda: launcher_log(p).count("initialization failed") >= 2
                 or p.poll() is not None, timeout=60)
        check(p.poll() is None, "the launcher exited %s" % p.returncode)
        check(not etcd_healthy(mem), "etcd runs on a corrupt db")
        lg = launcher_log(p)
        check("starting it again in 1s" in lg and "starting it again in 2s" in lg,
              "no growing backoff:\n%s" % lg[-2000:])
        shutil.copy(db + ".good", db)       # repaired: the next run succeeds
        wait_for("etcd after the repair", lambda: p.poll() is not None or etcd_healthy(mem),
                 timeout=90, step=0.2)
        check(p.poll() is None, "the launcher exited %s:\n%s" % (
            p.returncode, launcher_log(p)[-3000:]))
        check(etcd_get(mem, "/launch/failed") == "kept", "the key is lost")
        check(mem.last_mode() == "full", "mode %s" % mem.last_mode())
        p.send_signal(signal.SIGTERM)
        check(wait_exit(p) in (0, 143), "stop: exit %s" % p.returncode)
    finally:
        mem.close()


def t_etcd():
    mem = Member("etcd")
    try:
        mem.start_sidecar()
        p = run_etcd(mem, "launch-1")
        check(mem.last_mode() == "full", "first start: mode %s" % mem.last_mode())
        etcd = children(p.pid)[0]
        with open("/proc/%d/cmdline" % etcd) as f:
            argv = f.read().split("\0")[:-1]
        check(argv == [ARGS.etcd, "--config-file", mem.config_out], "etcd's argv: %s" % argv)
        check(stat.S_IMODE(os.stat(mem.config_out).st_mode) == 0o600, "config mode")
        check(mem.status().get("state") == "running" and mem.status().get("clean") == "no",
              "status while etcd runs: %s" % mem.status())
        etcd_put(mem, "/launch/etcd", "v1")

        p.send_signal(signal.SIGTERM)
        rc = wait_exit(p)
        check(rc in (0, 143), "SIGTERM: exit %s" % rc)
        check(proc_stat(etcd) is None, "etcd still exists after the launcher exited")
        st = mem.status()
        check(st.get("clean") == "yes", "status after SIGTERM: %s" % st)
        check("forwarding SIGTERM" in launcher_log(p), "not forwarded?")
        log("  SIGTERM: etcd ended cleanly, launcher exit %d, signal=%s" % (rc, st.get("signal")))

        p = run_etcd(mem, "launch-2")
        check(mem.last_mode() == "sanity", "after a clean stop: mode %s" % mem.last_mode())
        check(etcd_get(mem, "/launch/etcd") == "v1", "key lost after a clean restart")
        etcd_put(mem, "/launch/etcd", "v2")

        os.kill(children(p.pid)[0], signal.SIGKILL)
        check(wait_exit(p) == 137, "kill -9 of etcd: exit %s" % p.returncode)
        st = mem.status()
        check(st.get("signal") == "SIGKILL" and st.get("clean") == "no",
              "status after kill -9: %s" % st)

        p = run_etcd(mem, "launch-3")
        check(mem.last_mode() == "full", "after kill -9: mode %s" % mem.last_mode())
        check(etcd_get(mem, "/launch/etcd") == "v2", "key lost after kill -9")
        p.send_signal(signal.SIGTERM)
        check(wait_exit(p) in (0, 143), "stop: exit %s" % p.returncode)
    finally:
        mem.close()


SCENARIOS = [
    ("usage", t_usage),
    ("exit-status", t_exit_status),
    ("signals", t_signals),
    ("orphans", t_orphans),
    ("down", t_down),
    ("config", t_config),
    ("token", t_token),
    ("failed", t_failed),
    ("etcd", t_etcd),
]


def has_serve():
    r = subprocess.run([ARGS.medic, "serve", "--help"], capture_output=True, text=True)
    return r.returncode == 0 and "--config" in r.stdout


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--medic", required=True)
    ap.add_argument("--launch", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--etcd", default=os.environ["EM_ETCD_BIN"])  # tests/lib/etcd-env.sh
    ap.add_argument("--sanitize", default="none")
    ap.add_argument("--only", default="")
    ARGS = ap.parse_args()
    ARGS.medic = os.path.abspath(ARGS.medic)
    ARGS.launch = os.path.abspath(ARGS.launch)
    ARGS.work = os.path.abspath(ARGS.work)
    only = set(filter(None, ARGS.only.split(",")))
    shutil.rmtree(ARGS.work, ignore_errors=True)
    os.makedirs(ARGS.work)
    serve = has_serve()
    failed, ran = [], 0
    for name, fn in SCENARIOS:
        if only and name not in only:
            continue
        if name != "usage" and not serve:
            log("SKIP %s: %s has no serve command yet" % (name, ARGS.medic))
            continue
        log("=== %s" % name)
        t0 = time.time()
        try:
            fn()
            ran += 1
            log("ok %s (%.1fs)" % (name, time.time() - t0))
        except Exception as e:     # noqa: BLE001 - report and go on
            failed.append(name)
            log("FAIL %s: %s" % (name, e))
            if not isinstance(e, Failed):
                traceback.print_exc()
        finally:
            for p in PROCS:
                if p.poll() is None:
                    kill_tree(p.pid)
                    p.wait()
            PROCS.clear()
    if failed:
        log("failed: %s" % ", ".join(failed))
        return 1
    if not serve:
        log("`serve` is missing: only usage ran")
        return 77
    log("all %d scenarios passed" % ran)
    return 0


if __name__ == "__main__":
    sys.exit(main())
