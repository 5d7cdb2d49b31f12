#!/usr/bin/env bash
# Builds the reference tools boltcheck and walverify into OUTDIR, in GOPATH
# mode, from Debian's packaged sources:
#   golang-github-coreos-bbolt-dev  (go.etcd.io/bbolt 1.3.6)
#   golang-etcd-server-dev          (go.etcd.io/etcd 3.4.23)
# and golang-go.  Nothing is downloaded.
#
# usage: tests/ref/build.sh OUTDIR
#
# The Go build cache and GOPATH live in OUTDIR, so a second run rebuilds
# nothing (and takes well under a second when the sources did not change).
# Exit status: 0 built (or up to date), 77 Go or a source package is missing
# (the caller skips what needs the tools), 1 the build failed.
set -euo pipefail

if (($# != 1)); then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
gocode=/usr/share/gocode

if ! command -v go >/dev/null 2>&1; then
	echo "build.sh: go is not installed (apt-get install golang-go); reference tools skipped" >&2
	exit 77
fi
for pkg in go.etcd.io/bbolt go.etcd.io/etcd/wal go.etcd.io/etcd/etcdserver/api/snap; do
	if [[ ! -d $gocode/src/$pkg ]]; then
		echo "build.sh: $gocode/src/$pkg is missing (apt-get install golang-github-coreos-bbolt-dev golang-etcd-server-dev); reference tools skipped" >&2
		exit 77
	fi
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
gopath=$out/gopath
export GO111MODULE=off
export GOPATH=$gopath:$gocode
export GOCACHE=$out/gocache
export GOFLAGS=
export CGO_ENABLED=0

for tool in boltcheck walverify; do
	src=$here/$tool/main.go
	dst=$gopath/src/etcd-medic-ref/$tool
	mkdir -p "$dst"
	# Copy only when changed, so go's cache sees the same file.
	if ! cmp -s "$src" "$dst/main.go"; then
		cp "$src" "$dst/main.go"
	fi
	if [[ -x $out/$tool && $out/$tool -nt $dst/main.go ]]; then
		continue
	fi
	echo "build.sh: building $tool" >&2
	if ! go build -o "$out/$tool.new" "etcd-medic-ref/$tool"; then
		echo "build.sh: building $tool failed" >&2
		exit 1
	fi
	mv "$out/$tool.new" "$out/$tool"
done
