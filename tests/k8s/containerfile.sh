#!/usr/bin/env bash
# containerfile.sh WORK_DIR - runs the build stage of
# deploy/container/Containerfile on this machine the way a builder would,
# so that the file cannot rot without a container runtime here: the build
# context (the work tree less .dockerignore) is copied to WORK_DIR/src, the
# stage's WORKDIR; each RUN line runs there with /bin/sh -c, in order.
# Then what the runtime stage copies from it must exist: etcd-medic runs,
# the launcher is static, the runtime package list names installed
# Debian packages, and the image's user and entrypoint are as documented.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
file=$repo/deploy/container/Containerfile
work=$1
src=$work/src
fail() { echo "containerfile: FAIL: $*" >&2; exit 1; }

rm -rf "$src"
mkdir -p "$src"
# The build context: .dockerignore's patterns are relative to its root.
excludes=()
while IFS= read -r pat; do
	[[ -z $pat || $pat == \#* ]] && continue
	excludes+=("--exclude=./$pat")
done <"$repo/.dockerignore"
tar -C "$repo" "${excludes[@]}" -cf - . | tar -C "$src" -xf -

# The instructions of the first stage, continuation lines joined.
mapfile -t lines < <(awk '
	/^[[:space:]]*#/ && !cont { next }
	{ line = cont ? line " " $0 : $0 }
	/\\$/ { sub(/\\$/, "", line); cont = 1; next }
	{ cont = 0; if (line ~ /[^[:space:]]/) print line; line = "" }
' "$file")
# The second stage builds etcdutl FROM golang:X-bookworm: its RUN lines run
# in a copy of the context of their own, with this machine's Go, which must
# be that X.
gsrc=$work/src-etcdutl
rm -rf "$gsrc"
cp -a "$src" "$gsrc"
stage=0 workdir="" runs=0 dir=$src
for l in "${lines[@]}"; do
	read -r instr rest <<<"$l"
	case ${instr^^} in
	FROM)
		stage=$((stage + 1))
		((stage <= 2)) || break
		if ((stage == 1)); then
			[[ $rest == *debian:12* ]] || fail "the build stage is not Debian 12: $rest"
		else
			[[ $rest =~ golang:([0-9.]+)-bookworm\ AS\ etcdutl ]] ||
				fail "the second stage is not 'golang:X-bookworm AS etcdutl': $rest"
			go version | grep -q "go${BASH_REMATCH[1]}" ||
				fail "the etcdutl stage is Go ${BASH_REMATCH[1]}, this machine's is $(go version)"
			dir=$gsrc workdir=""
		fi
		;;
	WORKDIR) workdir=$rest ;;
	COPY) [[ $rest == ". ." ]] || fail "a build stage copies only the context (COPY . .), not: $rest" ;;
	RUN)
		[[ $workdir == /src ]] || fail "WORKDIR must be /src before RUN"
		echo "containerfile: RUN $rest"
		(cd "$dir" && /bin/sh -c "$rest") || fail "RUN failed: $rest"
		runs=$((runs + 1))
		;;
	*) fail "unexpected instruction in a build stage: $l" ;;
	esac
done
((runs >= 4)) || fail "only $runs RUN lines in the build stages"

# What the runtime stage takes from the build stage.
grep -q '^USER 65532:65532$' "$file" || fail "the image must run as 65532:65532"
grep -q '^ENTRYPOINT \["/usr/local/bin/etcd-medic"\]$' "$file" || fail "entrypoint"
while read -r from; do
	for p in $from; do
		[[ -e $src/${p#/src/} ]] || fail "COPY --from=build $p: not built"
	done
done < <(sed -n 's/^COPY --from=build \(.*\) [^ ]*$/\1/p' "$file")
while read -r from; do
	for p in $from; do
		[[ -e $gsrc/${p#/src/} ]] || fail "COPY --from=etcdutl $p: not built"
	done
done < <(sed -n 's/^COPY --from=etcdutl \(.*\) [^ ]*$/\1/p' "$file")
read -r _ default_version _ _ < <("$repo/tests/etcd/install.sh" list | awk '$4 == "default"')
"$gsrc/out/etcdutl" version | grep -qx "etcdutl version: $default_version" ||
	fail "the image's etcdutl is not $default_version: $("$gsrc/out/etcdutl" version | head -1)"
out=$src/out/usr/local/bin
"$out/etcd-medic" --version >/dev/null || fail "etcd-medic --version"
"$out/etcd-medic-launch" --version >/dev/null || fail "etcd-medic-launch --version"
if ldd "$out/etcd-medic-launch" >/dev/null 2>&1; then
	fail "etcd-medic-launch is not static"
fi
while read -r pkg; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
		fail "runtime package $pkg is not a Debian package installed here"
done <"$src/out/runtime-packages"
# The packages the runtime stage names itself must be Debian's (when this
# machine has package lists to ask).
if [[ -n $(apt-cache pkgnames 2>/dev/null | head -1) ]]; then
	named=$(printf '%s\n' "${lines[@]}" | sed -n 's/.*--no-install-recommends\([^&]*\)&&.*/\1/p')
	[[ -n $named ]] || fail "no apt-get install --no-install-recommends in the runtime stage"
	for pkg in $named; do
		[[ $pkg == *[\$\(\)]* ]] && continue   # $(cat runtime-packages)
		apt-cache show "$pkg" >/dev/null 2>&1 || fail "the runtime stage installs $pkg, which Debian does not have"
	done
fi
for need in libgnutls30 libnettle8 libjson-c5 libyaml-0-2 libmicrohttpd12 libzstd1; do
	grep -qx "$need" "$src/out/runtime-packages" || fail "runtime packages lack $need"
done
# libcurl is linked in, built without what Debian's package drags along
# (tests/lib/libcurl.sh): none of it may come back through the image.
for heavy in libcurl4 libcurl3-gnutls libssl3 libssh2-1 libldap-2.5-0 librtmp1 libgssapi-krb5-2; do
	! grep -qx "$heavy" "$src/out/runtime-packages" ||
		fail "the image would install $heavy (etcd-medic links its library)"
done
echo "containerfile: build stages ok ($runs RUN lines, etcdutl $default_version): $(tr '\n' ' ' <"$src/out/runtime-packages")"
rm -rf "$src" "$gsrc"
