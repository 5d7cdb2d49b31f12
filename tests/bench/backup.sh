#!/usr/bin/env bash
# tests/bench/backup.sh - how fast `etcd-medic snapshot save` takes a
# snapshot of a large db, against the raw gateway stream (curl to a file:
# the same JSON and base64 from etcd, no decoding, no check) and against
# `etcdctl snapshot save` (gRPC), in the same run, with peak anonymous
# memory (RssAnon, sampled every millisecond from /proc) of each.
#
# The db is the one tests/bench/validate.sh makes with the same etcd
# (build/bench-data/VERSION-SIZE_MB, over 1 GiB at the default 1100; the
# default version of tests/etcd/versions, or EM_ETCD_VERSION); this script
# makes it the same way when it is missing.  etcd-medic is measured to a file:// store, without
# compression (the stream, decoding, SHA-256, the bbolt check, fsync and
# the rename) and with zstd (level 3).  Median of RUNS runs (default 3).
#
# usage: tests/bench/backup.sh [SIZE_MB] [RUNS]
# Not a timed test: it prints figures, it does not pass or fail on them.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"
size_mb=${1:-1100}
runs=${2:-3}

tests/lib/deps.sh test
[[ -f build/build.ninja ]] || meson setup build >/dev/null
ninja -C build src/etcd-medic >/dev/null
medic=$top/build/src/etcd-medic
out=$top/build/bench-backup
# shellcheck source=tests/lib/etcd.sh
. tests/lib/etcd.sh
data=$top/build/bench-data/$EM_ETCD_VERSION-$size_mb

if [[ ! -s $data/member/snap/db ]]; then
	rm -rf "$data"
	echo "making a ${size_mb} MB etcd db in $data (takes a few minutes)"
	etcd_start "$data" --quota-backend-bytes=8589934592 \
		--max-request-bytes=10485760 --snapshot-count=2000
	python3 - "$ETCD_CLIENT_URL" "$size_mb" <<'PY'
import base64, json, os, sys, urllib.request
ep, mb = sys.argv[1], int(sys.argv[2])
vsize, per = 1536, 128
val = base64.b64encode(os.urandom(vsize)).decode()
n = mb * (1 << 20) // vsize
for i in range(0, n, per):
    ops = [{"requestPut": {"key": base64.b64encode(b"/registry/bench/%09d" % j).decode(),
                           "value": val}} for j in range(i, min(n, i + per))]
    req = urllib.request.Request(ep + "/v3/kv/txn", json.dumps({"success": ops}).encode())
    urllib.request.urlopen(req, timeout=60).read()
PY
	etcd_stop
fi

etcd_start "$data" --quota-backend-bytes=8589934592
ep=$ETCD_CLIENT_URL
rm -rf "$out"
mkdir -p "$out"
etcd_on_exit "rm -rf '$out'"

# measure CMD...: runs CMD, prints "SECONDS PEAK_ANON_KB".
measure() {
	python3 - "$@" <<'PY'
import subprocess, sys, time
start = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})
peak = 0
while p.poll() is None:
    try:
        with open(f"/proc/{p.pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.001)
if p.returncode != 0:
    sys.exit(f"{sys.argv[1:]} failed: {p.returncode}")
print(f"{time.monotonic() - start:.3f} {peak}")
PY
}

declare -A t m
tools=(curl etcdctl medic-none medic-zstd)
run_one() {
	case $1 in
	curl) measure curl -sf -X POST -d '{}' -o "$out/raw.json" "$ep/v3/maintenance/snapshot" ;;
	etcdctl) measure "$EM_ETCDCTL_BIN" --endpoints "$ep" snapshot save "$out/etcdctl.db" ;;
	medic-none) measure "$medic" snapshot save --endpoints "$ep" --to "file://$out/store" --compression none ;;
	medic-zstd) measure "$medic" snapshot save --endpoints "$ep" --to "file://$out/store" ;;
	esac
}
for ((i = 0; i < runs; i++)); do
	for tool in "${tools[@]}"; do
		read -r secs kb < <(run_one "$tool")
		t[$tool]+="$secs " m[$tool]+="$kb "
		rm -rf "$out/raw.json" "$out/etcdctl.db" "$out/store"
	done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
dbsize=$(stat -c %s "$data/member/snap/db")
printf '\ndb: %d MiB (%s), %d runs, medians\n\n' $((dbsize >> 20)) "$data" "$runs"
printf '%-52s %9s %14s\n' "" "seconds" "peak RssAnon"
declare -A med
for tool in "${tools[@]}"; do
	med[$tool]=$(median "${t[$tool]}")
	case $tool in
	curl) what="curl: the raw gateway stream to a file" ;;
	etcdctl) what="etcdctl snapshot save (gRPC)" ;;
	medic-none) what="etcd-medic snapshot save, file://, no compression" ;;
	medic-zstd) what="etcd-medic snapshot save, file://, zstd -3" ;;
	esac
	printf '%-52s %9.2f %10.1f MiB\n' "$what" "${med[$tool]}" \
		"$(awk -v k="$(median "${m[$tool]}")" 'BEGIN {print k / 1024}')"
done
ratio() { awk -v a="${med[$1]}" -v b="${med[$2]}" 'BEGIN {printf "%.2f", a / b}'; }
printf '\netcd-medic (none) / raw gateway stream: %sx (goal: at most 1.1x)\n' "$(ratio medic-none curl)"
printf 'etcd-medic (zstd) / raw gateway stream: %sx\n' "$(ratio medic-zstd curl)"
printf 'etcd-medic (none) / etcdctl:            %sx\n' "$(ratio medic-none etcdctl)"
printf 'raw gateway stream / etcdctl:           %sx\n' "$(ratio curl etcdctl)"
