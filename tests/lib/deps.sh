#!/usr/bin/env bash
# tests/lib/deps.sh - installs, with apt-get, the Debian 12 packages that
# building and testing etcd-medic need and that are missing.  Idempotent;
# prints nothing when everything is there.  Then builds the libcurl that
# etcd-medic links (libcurl.sh; quiet when built already).
#
# usage: tests/lib/deps.sh [build|test|demo]   (default: test)
set -euo pipefail

# The libcurl etcd-medic links is built from Debian's curl source
# (tests/lib/libcurl.sh, run at the end): dpkg-dev and make for that,
# GnuTLS and nettle for its TLS and for etcd-medic's SHA-256 and base64,
# nghttp2 for its HTTP/2 (etcd's gRPC snapshot stream).
build=(meson ninja-build pkg-config gcc libc6-dev make dpkg-dev
       libgnutls28-dev nettle-dev libnghttp2-dev libjson-c-dev libyaml-dev
       libmicrohttpd-dev check libzstd-dev)
# Real etcd for every test that involves etcd; Go and Debian's packaged
# bbolt and etcd sources for the reference checkers; clang with its
# libFuzzer runtime for the fuzzers; python3 for the damage tool and load
# generators; util-linux for setpriv (tests as a non-root user); openssl
# for the gateway tests' TLS certificates.
test=(etcd-server etcd-client golang-go golang-github-coreos-bbolt-dev
      golang-etcd-server-dev clang libclang-rt-14-dev python3 util-linux
      procps coreutils openssl)
demo=(etcd-server etcd-client python3 procps)

# The backup tests run an S3-compatible server from the npm registry: node
# and npm, from Debian unless some node is there already (a newer one from
# elsewhere would conflict with Debian's npm package).
if [[ ${1:-test} == test ]] && ! command -v npm >/dev/null; then
	test+=(nodejs npm)
fi

case ${1:-test} in
build) want=("${build[@]}") ;;
test) want=("${build[@]}" "${test[@]}") ;;
demo) want=("${build[@]}" "${demo[@]}") ;;
*) echo "usage: $0 [build|test|demo]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
install() {
	if ((EUID != 0)); then
		echo "deps.sh: missing packages: $*" >&2
		echo "deps.sh: run as root, or: sudo apt-get install $*" >&2
		exit 1
	fi
	echo "deps.sh: installing $*" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends "$@" >&2
}
((${#missing[@]} == 0)) || install "${missing[@]}"
"$(dirname "${BASH_SOURCE[0]}")/libcurl.sh"
