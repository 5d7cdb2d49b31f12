#!/usr/bin/env bash
# run.sh ETCD_MEDIC LAUNCH BUILD_DIR SANITIZE - the launcher's scenarios
# (test_launch.py) with the real sidecar and real etcd; LAUNCH_ONLY=a,b
# picks scenarios.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The etcd of the version under test (EM_ETCD_BIN, EM_ETCDCTL_BIN, ...).
# shellcheck source=../lib/etcd-env.sh
. "$here/../lib/etcd-env.sh"
args=(--medic "$1" --launch "$2" --work "$3/work" --sanitize "$4")
[[ -n ${LAUNCH_ONLY:-} ]] && args+=(--only "$LAUNCH_ONLY")
exec python3 "$here/test_launch.py" "${args[@]}"
