#!/usr/bin/env bash
# run.sh ETCD_MEDIC BUILD_DIR - the heal scenarios (test_heal.py), quick or
# full as HEAL_QUICK says, only HEAL_ONLY's if set.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The etcd of the version under test (EM_ETCD_BIN, EM_ETCDCTL_BIN, ...).
# shellcheck source=../lib/etcd-env.sh
. "$here/../lib/etcd-env.sh"
args=(--medic "$1" --work "$2/work")
[[ ${HEAL_QUICK:-0} == 1 ]] && args+=(--quick)
[[ -n ${HEAL_ONLY:-} ]] && args+=(--only "$HEAL_ONLY")
exec python3 "$here/test_heal.py" "${args[@]}"
