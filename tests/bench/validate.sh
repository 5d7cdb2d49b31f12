#!/usr/bin/env bash
# tests/bench/validate.sh - how fast `etcd-medic validate --mode full` reads
# a large etcd db, against bbolt's own Tx.Check and against reading the
# file once in order (cat), in the same run, warm and cold.
#
# It makes a real etcd data dir of SIZE_MB (default 1100, so the db is over
# 1 GiB) with Debian's etcd, kept in build/bench-data for later runs; then
# for each tool it prints wall time and peak anonymous memory (RssAnon,
# sampled every millisecond from /proc) and the ratios.  Cold runs drop the
# page cache first (root only: `sync; echo 3 > /proc/sys/vm/drop_caches`).
#
# usage: tests/bench/validate.sh [SIZE_MB] [WARM_RUNS]
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
tests/ref/build.sh build/ref >/dev/null
boltcheck=$top/build/ref/boltcheck

data=$top/build/bench-data/$size_mb
db=$data/member/snap/db

# fill ENDPOINT MB: writes MB of 1.5 KiB values with 128-put transactions
# through the JSON gateway (etcdctl would spawn a process per put).
fill() {
	python3 - "$1" "$2" <<'PY'
import base64, json, os, sys, urllib.request
ep, mb = sys.argv[1], int(sys.argv[2])
vsize, per = 1536, 128
val = base64.b64encode(os.urandom(vsize)).decode()
n = mb * (1 << 20) // vsize
for i in range(0, n, per):
    ops = [{"requestPut": {"key": base64.b64encode(
        b"/registry/bench/%09d" % j).decode(), "value": val}}
        for j in range(i, min(n, i + per))]
    req = urllib.request.Request(ep + "/v3/kv/txn",
                                 json.dumps({"success": ops}).encode())
    urllib.request.urlopen(req, timeout=60).read()
print(f"{n} keys written")
PY
}

if [[ ! -s $db ]]; then
	# shellcheck source=tests/lib/etcd.sh
	. tests/lib/etcd.sh
	rm -rf "$data"
	echo "making a ${size_mb} MB etcd db in $data (takes a few minutes)"
	etcd_start "$data" --quota-backend-bytes=8589934592 \
		--max-request-bytes=10485760 --snapshot-count=2000
	fill "$ETCD_CLIENT_URL" "$size_mb"
	etcd_stop
fi

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
can_drop=0
if [[ -w /proc/sys/vm/drop_caches ]]; then can_drop=1; fi

# measure CMD...: prints "SECONDS PEAK_ANON_KB" for one run.
measure() {
	python3 - "$@" <<'PY'
import subprocess, sys, time
start = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
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
print(f"{time.monotonic() - start:.3f} {peak}")
PY
}

# best_of N CMD...: the fastest of N runs, with its memory.
best_of() {
	local n=$1 best="" r
	shift
	for ((i = 0; i < n; i++)); do
		r=$(measure "$@")
		if [[ -z $best ]] || awk -v a="${r% *}" -v b="${best% *}" 'BEGIN{exit !(a < b)}'; then
			best=$r
		fi
	done
	echo "$best"
}

db_bytes=$(stat -c %s "$db")
pages=$((db_bytes / 4096))
printf 'db: %s (%d MiB, %d pages of 4 KiB)\n' "$db" $((db_bytes >> 20)) "$pages"
"$medic" validate --data-dir "$data" --mode full --json >"$top/build/bench-verdict.json" || true
python3 - "$top/build/bench-verdict.json" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
print(f"verdict: {v['verdict']}; timings {v['timings']}")
PY

declare -A t m
run_set() {
	local temp=$1 n=$2
	for tool in cat boltcheck medic-db; do
		local r
		case $tool in
		cat) cmd=(cat "$db") ;;
		boltcheck) cmd=("$boltcheck" "$db") ;;
		medic-db) cmd=("$medic" validate --data-dir "$data" --mode full) ;;
		esac
		if [[ $temp == cold ]]; then
			cold
			r=$(measure "${cmd[@]}")
		else
			"${cmd[@]}" >/dev/null 2>&1 || true    # warm the cache
			r=$(best_of "$n" "${cmd[@]}")
		fi
		t[$temp.$tool]=${r% *}
		m[$temp.$tool]=${r#* }
	done
}

run_set warm "$runs"
((can_drop)) && run_set cold 1

printf '\n%-34s %10s %10s %14s\n' "" "warm s" "cold s" "peak RssAnon"
row() {
	printf '%-34s %10s %10s %11s KiB\n' "$1" "${t[warm.$2]}" "${t[cold.$2]:--}" "${m[warm.$2]}"
}
row "cat db (one read in order)" cat
row "bbolt 1.3.6 Tx.Check (read-only)" boltcheck
row "etcd-medic validate --mode full" medic-db
echo "(validate covers the whole data dir: db, WAL and .snap files)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "warm: bbolt check / etcd-medic = $(ratio "${t[warm.boltcheck]}" "${t[warm.medic-db]}")x (goal: at least 3x)"
if ((can_drop)); then
	echo "cold: etcd-medic / cat         = $(ratio "${t[cold.medic-db]}" "${t[cold.cat]}")x (goal: at most 2x)"
	echo "cold: bbolt check / etcd-medic = $(ratio "${t[cold.boltcheck]}" "${t[cold.medic-db]}")x"
fi
echo "memory: etcd-medic peak RssAnon = $(ratio $((m[warm.medic-db] * 1024)) "$pages") bytes per db page"
