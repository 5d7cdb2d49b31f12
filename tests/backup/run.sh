#!/usr/bin/env bash
# run.sh BUILD_ROOT WORK_DIR - the backup scenarios (test_backup.py).
#
# The S3-compatible server comes from the npm registry (s3rver, and aws4 to
# check SigV4 signatures in front of it), installed once under the build
# dir and reused.  BACKUP_QUICK=1 runs the short set (sanitizer build);
# BACKUP_ONLY=a,b picks scenarios.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The etcd of the version under test (EM_ETCD_BIN, EM_ETCDCTL_BIN, ...).
# shellcheck source=../lib/etcd-env.sh
. "$here/../lib/etcd-env.sh"
build=$1 work=$2
npm_dir=$build/tests/backup/npm
if [[ ! -f $npm_dir/node_modules/s3rver/package.json ||
      ! -f $npm_dir/node_modules/aws4/package.json ]]; then
	mkdir -p "$npm_dir"
	npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
		s3rver@3.7.1 aws4@1.13.2 >&2
fi
args=(--build "$build" --work "$work/work" --npm "$npm_dir")
[[ ${BACKUP_QUICK:-0} == 1 ]] && args+=(--quick)
[[ -n ${BACKUP_ONLY:-} ]] && args+=(--only "$BACKUP_ONLY")
exec python3 "$here/test_backup.py" "${args[@]}"
