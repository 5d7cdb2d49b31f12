"""scenario.py - what the Python scenario tests share: a failed check,
log lines with the time, base64 for the JSON gateway, and the loop that
runs named scenarios and reports each.  Stdlib only.
"""

import base64
import shutil
import time
import traceback


class Failed(Exception):
    """A check that failed: reported without a traceback."""


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def etcd_version():
    """The etcd under test (tests/lib/etcd-env.sh), as a tuple (3, 6, 17)."""
    import os
    return tuple(int(x) for x in os.environ["EM_ETCD_VERSION"].split("."))


def etcd_at_least(*v):
    return etcd_version() >= tuple(v)


def gw_error(r):
    """etcd's error in a JSON gateway answer, whatever its release's shape
    (3.4: error, code, message; 3.5+ as built from etcd's modules: the same
    plus details; grpc-gateway v2 builds: code and message only; a stream's:
    {"error": {...}}), or None when r is not one."""
    if not isinstance(r, dict):
        return None
    e = r.get("error")
    if isinstance(e, dict):
        return e.get("message") or str(e)
    if e or r.get("code"):
        return r.get("message") or e or "gRPC code %s" % r.get("code")
    return None


def run(scenarios, names, work):
    """Runs scenarios[name]() for each name; removes work if all passed.
    Returns the exit status: 0 when every scenario passed."""
    failed = []
    for n in names:
        t0 = time.time()
        log("scenario %s" % n)
        try:
            scenarios[n]()
            log("scenario %s: ok (%.1f s)" % (n, time.time() - t0))
        except Exception as e:   # noqa: BLE001 - report every scenario
            failed.append(n)
            log("scenario %s: FAILED (%.1f s): %s" % (n, time.time() - t0, e))
            if not isinstance(e, Failed):
                traceback.print_exc()
    if not failed:
        shutil.rmtree(work, ignore_errors=True)
    log("%d scenarios, %d failed %s" % (len(names), len(failed), failed))
    return 1 if failed else 0
