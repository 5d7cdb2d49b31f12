#!/usr/bin/env bash
# run.sh ETCD_MEDIC BUILD_DIR - the upgrade scenarios (test_upgrade.py):
# from the series just before the default of tests/etcd/versions to the
# default (3.5 to 3.6 today), only UPGRADE_ONLY's scenarios if set.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
install=$here/../etcd/install.sh
read -r from_series to_series < <("$install" list |
	awk '$4 == "default" { print prev, $1; exit } { prev = $1 }') || true
if [[ -z ${from_series:-} || -z ${to_series:-} ]]; then
	echo "run.sh: no series before the default in tests/etcd/versions" >&2
	exit 1
fi
FROM=$("$install" dir "$from_series")
TO=$("$install" dir "$to_series")
# The version under test is the one upgraded to (EM_ETCD_BIN, PATH, ...); the
# scenarios give the members of the old version FROM's etcd themselves.
EM_ETCD_DIR=$TO
# shellcheck source=../lib/etcd-env.sh
. "$here/../lib/etcd-env.sh"
args=(--medic "$1" --work "$2/work" --from "$FROM" --to "$TO")
[[ -n ${UPGRADE_ONLY:-} ]] && args+=(--only "$UPGRADE_ONLY")
exec python3 "$here/test_upgrade.py" "${args[@]}"
