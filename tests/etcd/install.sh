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
#   install.sh etcdutl VERSION OUTDIR         etcdutl alone into OUTDIR (the
#                                             image's restore tool)
#
# A version's dir holds etcd and etcdctl (for 3.4, links to Debian's
# /usr/bin/etcd and /usr/bin/etcdctl), etcdutl (3.5 and later; 3.4 has
# none), boltcheck and walverify (the reference checkers: bbolt's Tx.Check
# and etcd's own start-up reading of the WAL and .snap files, one source
# each in boltcheck/ and walverify/, built with the tag of the series,
# etcd34 ... etcd37, against the bbolt and etcd that version uses) and a
# file "version".
#
# Where: $ETCD_MEDIC_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/etcd-medic)
# /etcd/VERSION-STAMP, STAMP a hash of everything the build reads (module
# files, checker sources, this script, the Go version), so a clean checkout
# reuses what an earlier one built and any change rebuilds (the dirs of
# older stamps stay until removed by hand; removing the whole cache is
# always safe).  Builds run one at a time (a lock in the cache) and appear
# whole.  Go versions are built from etcd's own modules with the Go at
# /usr/local/go (or on PATH), from the Go module proxy, pinned by
# etcd-SERIES.mod and its .sum (go build -modfile, in this dir, whose go.mod
# only roots the module): `go build` verifies every module against the .sum.
# 3.4.23 is Debian's package (tests/lib/deps.sh installs it), its checkers
# built in GOPATH mode from Debian's packaged Go sources (golang-etcd-server-
# dev, golang-github-coreos-bbolt-dev) with Debian's Go 1.19.
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
	export GOTOOLCHAIN=local GO111MODULE=on GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
}

# tag_of SERIES: the checkers' build tag, e.g. etcd36 for 3.6.
tag_of() { echo "etcd${1//./}"; }

# pin: rewrite etcd-SERIES.mod/.sum of every "go" version from scratch,
# from the Go module proxy, then check them.
pin() {
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

# check_pin SERIES VERSION: etcd-SERIES.mod must require etcd's server,
# etcdctl and etcdutl modules at exactly VERSION and name them as tools, and
# its .sum must not be empty (go build checks every module against it).
check_pin() {
	local series=$1 version=$2 mod=$here/etcd-$1.mod go bad
	[[ -f $mod && -s $here/etcd-$series.sum ]] ||
		die "$mod or its .sum is missing or empty: run '$0 pin'"
	go=$(gobin)
	bad=$("$go" mod edit -json "$mod" | python3 -c '
import json, sys
m = json.load(sys.stdin)
version = sys.argv[1]
req = {r["Path"]: r["Version"] for r in m.get("Require") or []}
tools = {t["Path"] for t in m.get("Tool") or []}
for name in ("server", "etcdctl", "etcdutl"):
    p = "go.etcd.io/etcd/%s/v3" % name
    if req.get(p) != "v" + version:
        print("%s is %s, not v%s" % (p, req.get(p, "not required"), version))
    if p not in tools:
        print("%s is not a tool" % p)
' "$version") || die "cannot read $mod"
	[[ -z $bad ]] || die "$mod disagrees with $here/versions ($bad): run '$0 pin'"
}

# stamp SERIES VERSION SOURCE: a hash of everything a build reads.
stamp() {
	local series=$1 version=$2 source=$3 f
	{
		echo "$series $version $source"
		for f in "$here/install.sh" "$here/go.mod" "$here"/boltcheck/*.go "$here"/walverify/*.go; do
			echo "== ${f#"$here"/}"
			cat "$f"
		done
		case $source in
		go)
			cat "$here/etcd-$series.mod" "$here/etcd-$series.sum"
			"$(gobin)" version
			;;
		debian)
			"$debian_go" version 2>/dev/null || true
			dpkg-query -W -f '${Package} ${Version}\n' etcd-server etcd-client \
				golang-etcd-server-dev golang-github-coreos-bbolt-dev 2>/dev/null || true
			;;
		esac
	} | sha256sum | cut -c1-12
}

# build_debian OUT VERSION SERIES: Debian's etcd and etcdctl (linked), the
# checkers built in GOPATH mode from Debian's packaged sources.
build_debian() {
	local out=$1 version=$2 series=$3 have pkg tool gopath
	for tool in etcd etcdctl; do
		[[ -x /usr/bin/$tool ]] ||
			die "/usr/bin/$tool is missing (tests/lib/deps.sh test installs etcd-server and etcd-client)"
	done
	have=$(/usr/bin/etcd --version | awk '/^etcd Version:/ { print $3 }')
	[[ $have == "$version" ]] || die "/usr/bin/etcd is etcd $have, $here/versions pins $version"
	[[ -x $debian_go ]] || die "$debian_go is missing (tests/lib/deps.sh test installs golang-go)"
	for pkg in go.etcd.io/bbolt go.etcd.io/etcd/wal go.etcd.io/etcd/etcdserver/api/snap \
		go.etcd.io/etcd/etcdserver/api/v2store; do
		[[ -d $gocode/src/$pkg ]] ||
			die "$gocode/src/$pkg is missing (tests/lib/deps.sh test installs golang-github-coreos-bbolt-dev, golang-etcd-server-dev)"
	done
	ln -s /usr/bin/etcd "$out/etcd"
	ln -s /usr/bin/etcdctl "$out/etcdctl"
	gopath=$out/gopath
	for tool in boltcheck walverify; do
		mkdir -p "$gopath/src/etcd-medic-ref/$tool"
		cp "$here/$tool"/*.go "$gopath/src/etcd-medic-ref/$tool/"
		say "building $tool for etcd $version (GOPATH mode, $($debian_go version | awk '{ print $3 }'))"
		(
			cd "$gopath/src/etcd-medic-ref/$tool"
			GO111MODULE=off GOPATH=$gopath:$gocode GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
				GOTOOLCHAIN=local "$debian_go" build -trimpath -tags "$(tag_of "$series")" \
				-o "$out/$tool" .
		)
	done
	rm -rf "$gopath"
}

# build_go OUT VERSION SERIES: etcd, etcdctl, etcdutl and the checkers from
# etcd's modules, as pinned by etcd-SERIES.mod/.sum.
build_go() {
	local out=$1 version=$2 series=$3 go m name have
	check_pin "$series" "$version"
	go=$(gobin)
	go_env
	cd "$here"
	for m in server etcdctl etcdutl; do
		name=$m
		[[ $m == server ]] && name=etcd
		say "building $name $version ($("$go" env GOVERSION))"
		"$go" build -modfile="etcd-$series.mod" -trimpath -o "$out/$name" "go.etcd.io/etcd/$m/v3"
	done
	for m in boltcheck walverify; do
		say "building $m for etcd $version"
		"$go" build -modfile="etcd-$series.mod" -trimpath -tags "$(tag_of "$series")" \
			-o "$out/$m" "./$m"
	done
	have=$("$out/etcd" --version | awk '/^etcd Version:/ { print $3 }')
	[[ $have == "$version" ]] || die "the etcd built for $version says it is '$have'"
}

# dir WANT: the dir of the version WANT names, built if needed.  Builds
# take a lock (one at a time: they are CPU-heavy), land in a temporary dir
# and are renamed into place whole, so a dir with a "version" file is
# complete.
dir() {
	local line series version source def st d tmp lock
	line=$(find_line "$1")
	read -r series version source def <<<"$line"
	st=$(stamp "$series" "$version" "$source")
	d=$cache/$version-$st
	if [[ -f $d/version ]]; then
		echo "$d"
		return
	fi
	mkdir -p "$cache"
	exec {lock}>"$cache/.build.lock"
	flock "$lock"
	if [[ ! -f $d/version ]]; then
		tmp=$(mktemp -d "$cache/.build-$version.XXXXXX")
		chmod 755 "$tmp"
		# shellcheck disable=SC2064 # expand now: tmp is local
		trap "rm -rf '$tmp'" EXIT
		SECONDS=0
		case $source in
		debian) build_debian "$tmp" "$version" "$series" ;;
		go) (build_go "$tmp" "$version" "$series") ;;
		*) die "unknown source '$source' for $version in $here/versions" ;;
		esac
		echo "$version" >"$tmp/version"
		rm -rf "$d"
		mv -T "$tmp" "$d"
		trap - EXIT
		say "etcd $version ready in $d (${SECONDS}s, $(du -sh "$d" | cut -f1))"
	fi
	exec {lock}>&-
	echo "$d"
}

# etcdutl WANT OUTDIR: etcdutl alone, as pinned, into OUTDIR (the image's
# restore tool: deploy/container/Containerfile); no cache.
etcdutl_only() {
	local line series version source def go out
	line=$(find_line "$1")
	read -r series version source def <<<"$line"
	[[ $source == go ]] || die "etcd $version is Debian's: it has no etcdutl"
	check_pin "$series" "$version"
	mkdir -p "$2"
	out=$(cd "$2" && pwd)
	go=$(gobin)
	go_env
	(cd "$here" && "$go" build -modfile="etcd-$series.mod" -trimpath \
		-ldflags=-s -o "$out/etcdutl" go.etcd.io/etcd/etcdutl/v3)
}

case ${1:-} in
dir) dir "${2:-default}" ;;
etcdutl) etcdutl_only "${2:?usage: $0 etcdutl VERSION OUTDIR}" "${3:?usage: $0 etcdutl VERSION OUTDIR}" ;;
all) while read -r _ version _ _; do dir "$version" >/dev/null; done < <(list) ;;
list) list ;;
pin) pin ;;
*)
	echo "usage: $0 dir [SERIES|VERSION|default] | all | list | pin | etcdutl VERSION OUTDIR" >&2
	exit 2
	;;
esac
