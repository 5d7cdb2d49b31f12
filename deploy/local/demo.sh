#!/usr/bin/env bash
# deploy/local/demo.sh - etcd-medic's main job on this machine, end to end.
#
# Installs what is missing (apt-get, as root), builds etcd-medic and
# etcd-medic-launch, then runs three etcd members on loopback as pods would
# run them (sidecar, launcher, etcd; a supervisor restarts the etcd
# container like the kubelet), writes data, damages one member's db, kills
# its etcd, and shows the heal step by step with timings, ending with the
# member list and a data check (deploy/local/demo.py).  Ctrl-C or the end
# stops everything and removes the temp dir.
#
# usage: deploy/local/demo.sh [--mb MB] [--keep]
# The earlier, smaller demo of `etcd-medic validate` alone is
# deploy/local/validate-demo.sh.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"
echo "== dependencies and build"
tests/lib/deps.sh demo
[[ -f build/build.ninja ]] || meson setup build >/dev/null
ninja -C build src/etcd-medic src/launch/etcd-medic-launch >/dev/null
build/src/etcd-medic --version
# etcd itself: the default version of the test matrix (tests/etcd/versions),
# built from etcd's own Go modules on first use (a few minutes), then cached.
echo "== etcd"
# shellcheck source=../../tests/lib/etcd-env.sh
. tests/lib/etcd-env.sh
"$EM_ETCD_BIN" --version | head -1
exec python3 deploy/local/demo.py --build "$top/build" "$@"
