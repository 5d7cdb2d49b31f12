#!/usr/bin/env bash
# tests/etcd/install.sh - real etcd of each version the tests run
# (tests/etcd/versions), with the reference checkers of that very version.
#
#   install.sh dir [SERIES|VERSION|default]   build if needed; print the dir
#   install.sh all                            build every version
#   install.sh list                           print "series version source
#                                             default|-" for each version
#   install.sh pin                            rewrite etcd-SERIES.mod/.sum
#                                             from the versions file
#
# A version's dir holds etcd, etcdctl, etcdutl (3.5 and later; 3.4 has none),
# boltcheck and walverify (the reference checkers: bbolt's Tx.Check and
# etcd's own start-up reading of the WAL and .snap files, built against the
# bbolt and etcd that version uses) and a file "version".
#
# Where: $ETCD_MEDIC_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/etcd-medic)
# /etcd/VERSION-STAMP, STAMP a hash of everything the build reads (module
# files, checker sources, this script, the Go version), so a clean checkout
# reuses what an earlier one built and any change rebuilds.  Go versions are
# built from etcd's own modules with the Go at /usr/local/go (or on PATH),
# from the Go module proxy, pinned by etcd-SERIES.mod and its .sum: `go
# build` verifies every module against the .sum.  3.4.23 is Debian's
# package (tests/lib/deps.sh installs it), its checkers built in GOPATH mode
# from Debian's packaged Go sources with Debian's Go 1.19.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${ETCD_MEDIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/etcd-medic}/etcd
debian_go=/usr/lib/go-1.19/bin/go
gocode=/usr/share/gocode

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*" >&2; }

# The versions file, without comments: "series version source default|-".
list() {
	sed 's/#.*//' "$here/versions" | awk 'NF >= 3 { print $1, $2, $3, (NF >= 4 ? $4 : "-") }'
}

# find WANT: the line of the version WANT names (series, version or
# "default"), or fail.
find_line() {
	local want=$1 line
	line=$(list | awk -v w="$want" '$1 == w || $2 == w || (w == "default" && $4 == "default")' | head -1)
	[[ -n $line ]] || die "no etcd '$want' in $here/versions (have: $(list | awk '{printf "%s ", $2}'))"
	echo "$line"
}

gobin() {
	local g
	for g in /usr/local/go/bin/go "$(command -v go 2>/dev/null || true)"; do
		[[ -n $g && -x $g ]] && { echo "$g"; return; }
	done
	die "no Go toolchain (expected /usr/local/go/bin/go): the etcd versions are built from etcd's Go modules"
}

# Go's settings for every build here: this toolchain and no other (no
# automatic toolchain download), module mode, the module files as committed.
go_env() {
	export GOTOOLCHAIN=local GO111MODULE=on GOFLAGS=-buildvcs=false CGO_ENABLED=0
}

# The module files must require exactly the pinned version.
check_pin() {
	local series version source def go m tool mods
	go=$(gobin)
	go_env
	while read -r series version source def; do
		[[ $source == go ]] || continue
		say "pinning etcd $version in etcd-$series.mod"
		printf 'module etcd-medic.test/etcd\n\ngo 1.24\n' >"$here/etcd-$series.mod"
		: >"$here/etcd-$series.sum"
		mods=()
		for m in server etcdctl etcdutl; do mods+=("go.etcd.io/etcd/$m/v3@v$version"); done
		(
			cd "$here"
			# etcd's three programs as the module's tools: required at
			# exactly this version, with every module they need in the .sum.
			"$go" get -modfile="etcd-$series.mod" -tool "${mods[@]}"
			# The checkers' own imports, resolved in that same graph.
			for tool in boltcheck walverify; do
				GOFLAGS="$GOFLAGS -mod=mod" "$go" build -modfile="etcd-$series.mod" \
					-tags "$(tag_of "$series")" -o /dev/null "./$tool"
			done
		)
		check_pin "$series" "$version"
	done < <(list)
}

case ${1:-} in
dir) dir "${2:-default}" ;;
all) while read -r _ version _ _; do dir "$version" >/dev/null; done < <(list) ;;
list) list ;;
pin) pin ;;
*)
	echo "usage: $0 dir [SERIES|VERSION|default] | all | list | pin" >&2
	exit 2
	;;
esac
