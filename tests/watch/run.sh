#!/usr/bin/env bash
# run.sh WATCH_DRIVER ETCD_MEDIC BUILD_DIR - the runtime watch scenarios
# (test_watch.py) on real etcd clusters; WATCH_ONLY=a,b picks scenarios.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The etcd of the version under test (EM_ETCD_BIN, EM_ETCDCTL_BIN, ...).
# shellcheck source=../lib/etcd-env.sh
. "$here/../lib/etcd-env.sh"
args=(--driver "$1" --medic "$2" --work "$3/work")
[[ -n ${WATCH_ONLY:-} ]] && args+=(--only "$WATCH_ONLY")
exec python3 "$here/test_watch.py" "${args[@]}"
