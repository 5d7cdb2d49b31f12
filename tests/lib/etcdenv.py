"""etcdenv.py - the etcd under test, for Python tests and benchmarks run by
hand.  The suites' run.sh export it (tests/lib/etcd-env.sh: EM_ETCD_BIN,
EM_ETCDCTL_BIN, EM_ETCDUTL_BIN, EM_ETCD_*, PATH); when EM_ETCD_BIN is not in the
environment, importing this module takes the same from etcd-env.sh (the
version EM_ETCD_VERSION names, else the default of tests/etcd/versions,
built on first use).  Stdlib only.
"""

import os
import subprocess

_NAMES = ("PATH",)


def load():
    if os.environ.get("EM_ETCD_BIN"):
        return
    env_sh = os.path.join(os.path.dirname(os.path.abspath(__file__)), "etcd-env.sh")
    out = subprocess.run(["bash", "-c", '. "$1" >&2 && env -0', "etcdenv", env_sh],
                         stdout=subprocess.PIPE, check=True).stdout
    for item in out.split(b"\0"):
        k, sep, v = item.partition(b"=")
        k = k.decode()
        if sep and (k in _NAMES or k.startswith("EM_ETCD")):
            os.environ[k] = v.decode()


load()
