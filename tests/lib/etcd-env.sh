# shellcheck shell=bash
# tests/lib/etcd-env.sh - which etcd a test runs: source it (the suites'
# run.sh do, and tests/run) and it exports
#
#   EM_ETCD_DIR      the version's dir made by tests/etcd/install.sh
#   EM_ETCD_VERSION  its version, e.g. 3.6.17
#   EM_ETCD_SERIES   e.g. 3.6
#   EM_ETCD_BIN, EM_ETCDCTL_BIN, EM_ETCDUTL_BIN (empty for 3.4, which has none)
#   EM_ETCD_REF_DIR  the reference checkers of that version (boltcheck,
#                    walverify): the same dir
#   PATH             with that dir first, so that `etcdctl`, `etcdutl` and
#                    the restore etcd-medic runs (etcd's own tool, found on
#                    PATH) are of the version under test
#
# The version is EM_ETCD_DIR if set (tests/run resolves it once per
# version), else EM_ETCD_VERSION (a series, a version or "default"), else
# the default of tests/etcd/versions, built on first use.
#
# Not ETCD_* nor ETCDCTL_*: etcd reads every ETCD_X variable as its flag --x
# (3.4 refuses to start with ETCD_VERSION=3.4.23, a value for its
# --version) and warns of every one it does not know; etcdctl likewise.
etcd_env_resolve() {
	local top
	top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	if [[ -z ${EM_ETCD_DIR:-} || ! -f ${EM_ETCD_DIR:-}/version ]]; then
		EM_ETCD_DIR=$("$top/tests/etcd/install.sh" dir "${EM_ETCD_VERSION:-default}") || return 1
	fi
	EM_ETCD_VERSION=$(cat "$EM_ETCD_DIR/version")
	EM_ETCD_SERIES=${EM_ETCD_VERSION%.*}
	EM_ETCD_BIN=$EM_ETCD_DIR/etcd
	EM_ETCDCTL_BIN=$EM_ETCD_DIR/etcdctl
	EM_ETCDUTL_BIN=
	[[ -x $EM_ETCD_DIR/etcdutl ]] && EM_ETCDUTL_BIN=$EM_ETCD_DIR/etcdutl
	EM_ETCD_REF_DIR=$EM_ETCD_DIR
	case ":$PATH:" in
	*":$EM_ETCD_DIR:"*) ;;
	*) PATH=$EM_ETCD_DIR:$PATH ;;
	esac
	export PATH EM_ETCD_DIR EM_ETCD_VERSION EM_ETCD_SERIES EM_ETCD_BIN EM_ETCDCTL_BIN EM_ETCDUTL_BIN EM_ETCD_REF_DIR
}
etcd_env_resolve || { echo "etcd-env.sh: no etcd to test with" >&2; exit 1; }
