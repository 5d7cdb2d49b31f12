#!/usr/bin/env bash
# etcd_config.sh SOURCE_DIR WORK_DIR - the etcd config the chart renders for
# the etcd version under test (tests/lib/etcd-env.sh), given to that very
# etcd: it must start from it and show that each version-dependent setting
# took effect.  etcd's config file ignores keys it does not know without a
# word (3.6 renamed the experimental-* keys to new names and feature gates,
# 3.7 removed the old names), so a key that merely parses proves nothing:
# the evidence is what etcd does and logs.
#
#   initial corruption check  "starting initial corruption check" on a
#                             restart of a member with data
#   periodic check            "enabled corruption checking", interval 5m0s
#   compact hash check        3.5: "compact-check-time-enabled":true in the
#                             start-up line; 3.6+: its monitor stopping
#                             ("stopping compact hash's monitor")
#
# On 3.7 and later also: the chart refuses an experimental-* key, and etcd
# itself, given one, ignores it (no initial check runs).
set -euo pipefail
src=$(cd "$1" && pwd)
mkdir -p "$2"
top=$(cd "$2" && pwd)
work=$(mktemp -d "$top/etcd-config.XXXXXX")
# shellcheck source=../lib/etcd.sh
. "$src/tests/lib/etcd.sh"
etcd_on_exit "rm -rf '$work'"
# helm, shared with the k8s suite (run.sh) in WORK_DIR/cache.
"$src/tests/k8s/tools.sh" "$top/cache"
helm=$top/cache/bin/helm
export HELM_CACHE_HOME=$work/helm HELM_CONFIG_HOME=$work/helm HELM_DATA_HOME=$work/helm
chart=$src/charts/etcd-medic
v=$EM_ETCD_VERSION
fail() { echo "etcd_config: FAIL on etcd $v: $*" >&2; exit 1; }
ver_ge() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1) == "$2" ]]; }

# render OUT [helm --set ...]: the chart's etcd.yaml for version v.
render() {
	local out=$1
	shift
	"$helm" template etcd "$chart" --namespace cfg --show-only templates/configmap.yaml \
		--set "etcd.version=$v" "$@" >"$work/cm.yaml" 2>"$work/helm.err" || return 1
	python3 - "$work/cm.yaml" >"$out" <<'EOF'
import sys
lines, out, on = open(sys.argv[1]).read().split("\n"), [], False
for l in lines:
    if l.startswith("  etcd.yaml: |"):
        on = True
        continue
    if on and l.startswith("    "):
        out.append(l[4:])
    elif on and l.strip():
        break
print("\n".join(out))
EOF
}

# local_config CHART_YAML OUT: the chart's keys, but this machine's name,
# URLs and data dir (every key the chart makes per pod).
local_config() {
	local cport pport
	read -r cport pport <<<"$(etcd_free_ports 2)"
	CFG_URL=http://127.0.0.1:$cport
	{
		grep -Ev '^(name|data-dir|listen-[a-z-]+|advertise-client-urls|initial-[a-z-]+):' "$1" |
			grep -Ev '^  ' || true
		cat <<YAML
name: cfg
data-dir: $work/data
listen-client-urls: $CFG_URL
advertise-client-urls: $CFG_URL
listen-peer-urls: http://127.0.0.1:$pport
initial-advertise-peer-urls: http://127.0.0.1:$pport
initial-cluster: cfg=http://127.0.0.1:$pport
initial-cluster-state: new
logger: zap
log-outputs: [stderr]
YAML
	} >"$2"
}

# start_stop CONFIG LOG: etcd from CONFIG until it answers, a write, a stop.
start_stop() {
	local i pid
	"$EM_ETCD_BIN" --config-file "$1" >"$2" 2>&1 &
	pid=$!
	etcd_track "$pid" "$EM_ETCD_BIN"
	for ((i = 0; i < 200; i++)); do
		etcd_healthy "$CFG_URL" && break
		etcd__alive "$pid" || { tail -n 20 "$2" >&2; fail "etcd exited on the chart's config"; }
		sleep 0.1
	done
	etcd_healthy "$CFG_URL" || { tail -n 20 "$2" >&2; fail "etcd not healthy on the chart's config"; }
	curl -sS --max-time 5 -X POST "$CFG_URL/v3/kv/put" -d '{"key":"Y2Zn","value":"MQ=="}' >/dev/null
	etcd__terminate "$pid" "$EM_ETCD_BIN" 15
}

compact=true
ver_ge "$v" 3.5.5 || compact=false
render "$work/chart.yaml" --set etcd.corruptionChecks.periodicSeconds=300 \
	--set "etcd.corruptionChecks.compactHash=$compact" || { cat "$work/helm.err" >&2; fail "helm template"; }
echo "etcd_config: the chart's version-dependent keys for etcd $v:"
grep -E '^(feature-gates|experimental-|corrupt-check-time)' "$work/chart.yaml" | sed 's/^/  /'
local_config "$work/chart.yaml" "$work/etcd.yaml"
start_stop "$work/etcd.yaml" "$work/first.log"
# The second start is a restart of a member with data: the initial check runs.
start_stop "$work/etcd.yaml" "$work/second.log"
log=$work/second.log
grep -q '"msg":"starting initial corruption check"' "$log" ||
	fail "no initial corruption check on restart"
grep -q '"msg":"enabled corruption checking".*"interval":"5m0s"' "$log" ||
	fail "the periodic corruption check is not on at 5m"
if [[ $compact == true ]]; then
	if ver_ge "$v" 3.6.0; then
		grep -q "stopping compact hash's monitor" "$log" || fail "no compact hash check"
	else
		grep -q '"compact-check-time-enabled":true' "$log" || fail "no compact hash check"
	fi
fi
what="the initial and periodic corruption checks"
[[ $compact == true ]] && what+=" and the compact hash check" || what+=" (there is no compact hash check before 3.5.5)"
echo "etcd_config: etcd $v ran $what from the chart's config"

if ver_ge "$v" 3.7.0; then
	# The chart refuses an old name...
	if render "$work/old.yaml" --set etcd.extraConfig.experimental-initial-corrupt-check=true; then
		fail "the chart accepted experimental-initial-corrupt-check for etcd $v"
	fi
	grep -q "no longer knows the experimental-\* keys" "$work/helm.err" ||
		fail "the chart's refusal does not say why: $(cat "$work/helm.err")"
	# ...because etcd would ignore it without a word.
	rm -rf "$work/data"
	render "$work/plain.yaml" --set etcd.corruptionChecks.initial=false \
		--set etcd.corruptionChecks.compactHash=false
	local_config "$work/plain.yaml" "$work/old-name.yaml"
	echo "experimental-initial-corrupt-check: true" >>"$work/old-name.yaml"
	start_stop "$work/old-name.yaml" "$work/old1.log"
	start_stop "$work/old-name.yaml" "$work/old2.log"
	if grep -q "starting initial corruption check" "$work/old2.log"; then
		fail "etcd $v ran an initial check for experimental-initial-corrupt-check"
	fi
	echo "etcd_config: etcd $v ignores experimental-initial-corrupt-check without a word, and the chart refuses it"
fi
