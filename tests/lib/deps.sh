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
# Real etcd for every test that involves etcd: 3.4.23 is Debian's
# etcd-server and etcd-client, its reference checkers built with Debian's Go
# from Debian's packaged bbolt and etcd sources; 3.5 and later are built
# from etcd's Go modules by tests/etcd/install.sh with the Go toolchain at
# /usr/local/go (not a Debian package: Debian 12's Go 1.19 cannot build
# them).  clang with its libFuzzer runtime for the fuzzers; python3 for the
# damage tool and load generators; util-linux for setpriv (tests as a
# non-root user); openssl for the gateway tests' TLS certificates; curl and
# zstd, which tests and benchmarks call.
test=(etcd-server etcd-client golang-go golang-github-coreos-bbolt-dev
      golang-etcd-server-dev clang libclang-rt-14-dev python3 util-linux
      procps coreutils openssl curl zstd ca-certificates)
# The demo runs the default etcd of the test matrix, built from etcd's Go
# modules (tests/etcd/install.sh), so no Debian etcd.
demo=(python3 procps ca-certificates)

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
if [[ ${1:-test} != build ]] && [[ ! -x /usr/local/go/bin/go ]] &&
	! go version 2>/dev/null | grep -Eq 'go1\.(2[4-9]|[3-9][0-9])'; then
	echo "deps.sh: etcd 3.5 and later are built from etcd's Go modules, which needs Go 1.24 or later at /usr/local/go (https://go.dev/dl/); Debian 12's golang-go is 1.19" >&2
	exit 1
fi
"$(dirname "${BASH_SOURCE[0]}")/libcurl.sh"
