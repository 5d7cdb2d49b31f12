#!/usr/bin/env bash
# tests/bench/validate.sh - how fast `etcd-medic validate --mode full` reads
# a large etcd db, against bbolt's own Tx.Check and against reading the
# file once in order (cat), in the same run, warm and cold.
#
# The etcd and the bbolt check (boltcheck) are those of the default version
# of tests/etcd/versions (or of EM_ETCD_VERSION when set), from
# tests/etcd/install.sh through tests/lib/etcd-env.sh.  It makes a real etcd
# data dir of SIZE_MB (default 1100, so the db is over 1 GiB) with that
# etcd, kept in build/bench-data/VERSION-SIZE_MB for later runs; then
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
# shellcheck source=tests/lib/etcd-env.sh
. tests/lib/etcd-env.sh
boltcheck=$EM_ETCD_REF_DIR/boltcheck

data=$top/build/bench-data/$EM_ETCD_VERSION-$size_mb
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

# measure OUT CMD...: runs CMD once, its stdout into OUT; prints
# "SECONDS PEAK_ANON_KB".
measure() {
	python3 - "$@" <<'PY'
import subprocess, sys, time
out = open(sys.argv[1], "wb")
start = time.monotonic()
p = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL)
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

db_bytes=$(stat -c %s "$db")
pages=$((db_bytes / 4096))
all_files=("$db" "$data"/member/wal/*.wal "$data"/member/snap/*.snap)
all_bytes=$(cat "${all_files[@]}" | wc -c)
printf 'db: %s: %d MiB, %d pages of 4 KiB\n' "$db" $((db_bytes >> 20)) "$pages"
printf 'data dir: %d MiB in db, WAL and .snap files\n' $((all_bytes >> 20))

# One sample of every tool at one temperature; appends "tool secs kb".
sample() {
	local temp=$1 tool r out=$top/build/bench-out.json
	for tool in cat-db cat-all boltcheck medic; do
		case $tool in
		cat-db) cmd=(cat "$db") ;;
		cat-all) cmd=(cat "${all_files[@]}") ;;
		boltcheck) cmd=("$boltcheck" "$db") ;;
		medic) cmd=("$medic" validate --data-dir "$data" --mode full --json) ;;
		esac
		# bbolt's check takes half a minute cold: once is enough.
		[[ $temp == cold && $tool == boltcheck && -n ${did_bolt_cold:-} ]] && continue
		if [[ $temp == cold ]]; then cold; else "${cmd[@]}" >/dev/null 2>&1 || true; fi
		if [[ $tool == medic ]]; then
			r=$(measure "$out" "${cmd[@]}")
		else
			r=$(measure /dev/null "${cmd[@]}")
		fi
		echo "$temp $tool $r" >>"$samples"
		if [[ $tool == medic ]]; then
			python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(sys.argv[2], "medic-db", "%.3f" % v["timings"]["db_seconds"], 0)' \
				"$out" "$temp" >>"$samples"
			grep -q '"verdict":"healthy"' "$out" || echo "warning: verdict is not healthy" >&2
		fi
		[[ $temp == cold && $tool == boltcheck ]] && did_bolt_cold=1
	done
	return 0
}

samples=$(mktemp)
for ((i = 0; i < runs; i++)); do
	sample warm
	((can_drop)) && sample cold
done

# median TEMP TOOL FIELD: the median of a column over the samples.
median() {
	local v
	mapfile -t v < <(awk -v t="$1" -v n="$2" -v f="$3" \
		'$1 == t && $2 == n { print $f }' "$samples" | sort -g)
	if ((${#v[@]} == 0)); then echo "-"; else echo "${v[$(((${#v[@]} - 1) / 2))]}"; fi
}

printf '\nmedians of %d runs (bbolt cold: 1 run)\n' "$runs"
printf '%-40s %9s %9s %14s\n' "" "warm s" "cold s" "peak RssAnon"
row() {
	local kb
	kb=$(median warm "$2" 4)
	printf '%-40s %9s %9s %10s KiB\n' "$1" "$(median warm "$2" 3)" "$(median cold "$2" 3)" "${3:-$kb}"
}
row "cat db (one read, in order)" cat-db
row "cat db + WAL + .snap" cat-all
row "bbolt Tx.Check (etcd $EM_ETCD_VERSION), read-only" boltcheck
row "etcd-medic validate --mode full" medic
row "  of which the db (timings.db_seconds)" medic-db "-"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a != "-" && b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "warm: bbolt Tx.Check / etcd-medic db check = $(ratio "$(median warm boltcheck 3)" "$(median warm medic-db 3)")x (goal: >= 3)"
echo "warm: bbolt Tx.Check / etcd-medic validate = $(ratio "$(median warm boltcheck 3)" "$(median warm medic 3)")x"
if ((can_drop)); then
	echo "cold: etcd-medic db check / cat db         = $(ratio "$(median cold medic-db 3)" "$(median cold cat-db 3)")x (goal: <= 2)"
	echo "cold: etcd-medic validate / cat all files  = $(ratio "$(median cold medic 3)" "$(median cold cat-all 3)")x"
	echo "cold: bbolt Tx.Check / etcd-medic validate = $(ratio "$(median cold boltcheck 3)" "$(median cold medic 3)")x"
fi
kb=$(median warm medic 4)
echo "memory: etcd-medic peak RssAnon $kb KiB = $(ratio $((kb * 1024)) "$pages") bytes per db page (goal: a few dozen; <= 16 MiB for 1 GiB)"
rm -f "$samples"
