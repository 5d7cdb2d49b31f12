#!/usr/bin/env bash
# tests/gateway/run.sh - runs test_gateway (the gateway client) against real
# etcd, one phase at a time: a 3-member cluster, then a learner joining it
# (started here between the phases), then the cluster with one member down,
# then without quorum, one
# member with TLS and client-certificate auth, one member with auth on.
# Every etcd started here is stopped at exit, whatever happens (etcd.sh's
# trap).  Work files stay in /tmp only when a phase failed.
#
# Usage: run.sh TEST_GATEWAY [SOURCE_ROOT]
set -uo pipefail

bin=$(realpath "$1")
root=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib/etcd-env.sh
. "$root/tests/lib/etcd-env.sh"
# shellcheck source=../lib/etcd.sh
. "$root/tests/lib/etcd.sh"
export GW_ETCD_VERSION=$EM_ETCD_VERSION
echo "gateway tests on etcd $EM_ETCD_VERSION ($EM_ETCD_BIN)"

work=$(mktemp -d /tmp/etcd-medic-gateway.XXXXXX)
failed=()

# phase NAME [VAR=VALUE...]: runs the Check program's phase NAME.
phase() {
	local name=$1 t0=$SECONDS
	shift
	echo "=== phase $name"
	if env GW_PHASE="$name" "$@" "$bin"; then
		echo "=== phase $name passed in $((SECONDS - t0)) s"
		return 0
	fi
	echo "=== phase $name FAILED"
	failed+=("$name")
	return 1
}

join() { local IFS=,; echo "$*"; }

# ver_ge A B: version A is B or later.
ver_ge() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1) == "$2" ]]; }

# learner_probes URL: etcd's own probes on a learner, as a pod's probes
# would ask them.  /health?serializable=true (the chart's liveness probe)
# answers on every version; /readyz, served from 3.5.11, fails for a learner
# from 3.5.19 and in 3.6 (its non_learner check), so a probe on it would
# keep a catching-up learner unready (the chart's readiness is the
# sidecar's /readyz); ?exclude=non_learner passes.
learner_probes() {
	local url=$1 v=$EM_ETCD_VERSION out code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/health?serializable=true")
	[[ $code == 200 ]] || { echo "learner: /health?serializable=true: HTTP $code, want 200"; return 1; }
	out=$(curl -s -w '\nHTTP %{http_code}' --max-time 5 "$url/readyz?verbose")
	if ! ver_ge "$v" 3.5.11; then
		[[ $out == *"HTTP 404" ]] || { echo "learner: /readyz on $v: $out, want 404"; return 1; }
	elif ver_ge "$v" 3.5.19; then
		[[ $out == *"HTTP 503" && $out == *"[-]non_learner failed"* ]] ||
			{ echo "learner: /readyz on $v: $out, want 503 with non_learner failed"; return 1; }
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url/readyz?exclude=non_learner")
		[[ $code == 200 ]] || { echo "learner: /readyz?exclude=non_learner: HTTP $code, want 200"; return 1; }
	else
		[[ $out == *"HTTP 200" ]] || { echo "learner: /readyz on $v: $out, want 200"; return 1; }
	fi
	echo "learner: etcd $v's probes as expected (/health?serializable=true 200, /readyz ${out##*HTTP })"
}

cluster_phases() {
	local urls lc lp lurl lpid dead
	etcd_cluster_start "$work/cluster" 3 || { failed+=(cluster-start); return; }
	urls=("${ETCD_CLUSTER_CLIENT_URLS[@]}")
	read -r dead lc lp <<<"$(etcd_free_ports 3 $ETCD_STABLE_PORTS)"
	lurl=http://127.0.0.1:$lc
	phase cluster GW_ENDPOINTS="$(join "${urls[@]}")" \
		GW_DEAD_URL="http://127.0.0.1:$dead" \
		GW_LEARNER_PEER_URL="http://127.0.0.1:$lp" || return
	# The learner the cluster phase added, joining under its peer URL.
	etcd_member_launch learner "$work/cluster/learner" "$lurl" \
		"http://127.0.0.1:$lp" \
		"$ETCD_CLUSTER_INITIAL,learner=http://127.0.0.1:$lp" existing
	lpid=$ETCD_LAUNCHED_PID
	if etcd_wait_up "$lurl" "$lpid"; then
		learner_probes "$lurl" || failed+=(learner-probes)
		phase learner GW_ENDPOINTS="$(join "${urls[@]}")" GW_LEARNER_URL="$lurl"
	else
		failed+=(learner-start)
	fi
	# Removed from the cluster, it stops by itself; in case it did not:
	etcd__terminate "$lpid" "$work/cluster/learner" 10
	etcd_cluster_stop_member 2
	phase degraded GW_ENDPOINTS="$(join "${urls[0]}" "${urls[1]}")"
	etcd_cluster_stop_member 1
	phase noquorum GW_ENDPOINTS="${urls[0]}" GW_DOWN="$(join "${urls[1]}" "${urls[2]}")"
	etcd_cluster_stop_member 0
}

tls_phase() {
	etcd_tls_certs "$work/pki" || { failed+=(tls-certs); return; }
	etcd_start_tls "$work/tls" "$work/pki" || { failed+=(tls-start); return; }
	phase tls GW_ENDPOINTS="$ETCD_CLIENT_URL" GW_CA="$work/pki/ca.pem" \
		GW_CERT="$work/pki/client.pem" GW_KEY="$work/pki/client-key.pem"
	etcd_stop
}

auth_phase() {
	# A password unlike anything else in the log, so that the test can
	# tell it never appears there.
	local ttl=2 pw=pw-$RANDOM-$RANDOM-secret
	etcd_start "$work/auth" --auth-token-ttl=$ttl || { failed+=(auth-start); return; }
	if ! etcd_enable_auth ||
		! etcdctl_ --user root:root user add app:app >/dev/null ||
		! etcdctl_ --user root:root user passwd root --interactive=false \
			<<<"$pw" >/dev/null; then
		failed+=(auth-setup)
		return
	fi
	phase auth GW_ENDPOINTS="$ETCD_CLIENT_URL" GW_PASSWORD="$pw" GW_TOKEN_TTL=$ttl
	etcd_stop
}

t0=$SECONDS
cluster_phases
tls_phase
auth_phase
if ((${#failed[@]})); then
	echo "gateway tests FAILED: ${failed[*]}; logs in $work/*.etcd.log, $work/cluster/*.etcd.log"
	exit 1
fi
echo "gateway tests passed in $((SECONDS - t0)) s"
rm -rf "$work"
