#!/usr/bin/env bash
# config_etcd.sh - the etcd config etcd-medic renders, given to the real
# etcd (Debian's 3.4.23) with --config-file: etcd must start from it, serve
# its JSON gateway (which, with --config-file, only the file can turn on),
# and show the values etcd-medic put in: the member name from ${VAR}
# expansion, the initial cluster that replaced the file's own.  The source
# file writes URL keys as YAML lists, which etcd itself would refuse.
#
# usage: config_etcd.sh CONFIG_RENDER SOURCE_DIR
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

if (($# != 2)); then
	echo "usage: $0 CONFIG_RENDER SOURCE_DIR" >&2
	exit 2
fi
render=$(realpath "$1")
# shellcheck source=../lib/etcd.sh
. "$2/tests/lib/etcd.sh"

tmp=$(mktemp -d /tmp/config_etcd.XXXXXX)
etcd_on_exit "rm -rf '$tmp'"
fail() { echo "config_etcd: FAIL: $*" >&2; [[ -f $tmp/etcd.log ]] && tail -n 20 "$tmp/etcd.log" >&2; exit 1; }

# post PATH: the gateway's answer to POST PATH with '{}'.
post() { curl -sS --max-time 5 -X POST "http://127.0.0.1:$cport$1" -d '{}'; }

# start: renders the config for fresh ports and starts etcd from it; 1 if
# etcd exits or does not answer in time.
start() {
	local i
	read -r cport pport mport <<<"$(etcd_free_ports 3)"
	cat >"$tmp/etcd.yaml" <<YAML
# etcd's own config file, as a user would write it for etcd-medic
name: \${EM_CONFIG_TEST_NAME}
data-dir: $tmp/data
initial-cluster: old=http://127.0.0.1:1,other=http://127.0.0.1:2
initial-cluster-state: existing
initial-cluster-token: \${EM_CONFIG_TEST_TOKEN:-etcd-medic-config-test}
listen-client-urls:
  - &client http://127.0.0.1:$cport
advertise-client-urls: [*client]
listen-peer-urls: ["http://127.0.0.1:$pport"]
initial-advertise-peer-urls: http://127.0.0.1:$pport
listen-metrics-urls:
  - http://127.0.0.1:$mport
enable-grpc-gateway: false
snapshot-count: 5000
heartbeat-interval: 100
election-timeout: 1000
auto-compaction-mode: revision
auto-compaction-retention: "100"
logger: zap
log-outputs: [stderr]
client-transport-security:
  client-cert-auth: false
  auto-tls: false
YAML
	EM_CONFIG_TEST_NAME=medic-$$ "$render" "$tmp/etcd.yaml" \
		"medic-$$=http://127.0.0.1:$pport" new >"$tmp/rendered.yaml" ||
		fail "config_render failed"
	"$EM_ETCD_BIN" --config-file "$tmp/rendered.yaml" >>"$tmp/etcd.log" 2>&1 &
	ETCD_PID=$!
	ETCD_DATA_DIR=$tmp/rendered.yaml   # what etcd_stop checks in its cmdline
	etcd_track "$ETCD_PID" "$tmp/rendered.yaml"
	for ((i = 0; i < ETCD_START_TIMEOUT * 10; i++)); do
		etcd__alive "$ETCD_PID" || return 1
		post /v3/maintenance/status 2>/dev/null | grep -q '"version"' && return 0
		sleep 0.1
	done
	return 1
}

started=0
for try in 1 2 3; do
	if start; then
		started=1
		break
	fi
	etcd_stop
	grep -q 'address already in use' "$tmp/etcd.log" || break
	echo "config_etcd: a port was taken meanwhile; try $((try + 1))" >&2
	rm -rf "$tmp/data"
done
((started)) || fail "etcd did not start from the rendered config:
$(cat "$tmp/rendered.yaml")"

echo "--- rendered config:"
cat "$tmp/rendered.yaml"
echo "---"
status=$(post /v3/maintenance/status)
members=$(post /v3/cluster/member/list)
echo "status: $status"
echo "members: $members"
grep -q "\"name\":\"medic-$$\"" <<<"$members" || fail "member name is not medic-$$"
grep -q "\"peerURLs\":\[\"http://127.0.0.1:$pport\"\]" <<<"$members" || fail "peer URL"
grep -q "\"clientURLs\":\[\"http://127.0.0.1:$cport\"\]" <<<"$members" || fail "client URL"
metrics=$(curl -sS --max-time 5 "http://127.0.0.1:$mport/metrics")
grep -q '^etcd_server_has_leader 1' <<<"$metrics" ||
	fail "metrics URL from a YAML list not served"
# The cluster is new, with this one member: not the file's old cluster.
[[ $(grep -o '"ID"' <<<"$members" | wc -l) == 1 ]] || fail "more than one member"
etcd_stop
echo "config_etcd: etcd 3.4 started from the rendered config and served its gateway"
