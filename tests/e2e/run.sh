#!/usr/bin/env bash
# run.sh BUILD_ROOT WORK_DIR - the end-to-end scenarios (test_e2e.py).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The etcd of the version under test (EM_ETCD_BIN, EM_ETCDCTL_BIN, ...).
# shellcheck source=../lib/etcd-env.sh
. "$here/../lib/etcd-env.sh"
args=(--build "$1" --work "$2/work")
[[ -n ${E2E_ONLY:-} ]] && args+=(--only "$E2E_ONLY")
exec python3 "$here/test_e2e.py" "${args[@]}"
