#!/usr/bin/env bash
# deploy/local/validate-demo.sh - etcd-medic validate on a real etcd, end to end.
#
# Installs what is missing (apt-get, as root), builds etcd-medic, then with
# a real etcd from Debian's etcd-server package:
#   1. starts a single-member etcd on loopback (free ports, a temp dir),
#      writes keys, and asks etcd-medic about the live data dir: in-use;
#   2. stops etcd cleanly: healthy;
#   3. copies the data dir three times and damages each copy the way disks
#      and crashes do (a bbolt page header, a WAL record, a truncated WAL
#      tail that etcd repairs itself): corrupt, corrupt, healthy with a note;
#   4. restarts etcd on the untouched original to show it was judged right.
# Everything runs under a temp dir that is removed at the end; etcd is
# stopped whatever happens.  Later issues grow this into the full local
# cluster demo (sidecar, launcher, healing).
#
# usage: deploy/local/validate-demo.sh [--keep]   (--keep: leave the temp dir)
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"
keep=0
[[ ${1:-} == --keep ]] && keep=1

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "dependencies and build"
tests/lib/deps.sh demo
[[ -f build/build.ninja ]] || meson setup build >/dev/null
ninja -C build src/etcd-medic >/dev/null
medic=$top/build/src/etcd-medic
"$medic" --version

# shellcheck source=tests/lib/etcd.sh
. tests/lib/etcd.sh
work=$(mktemp -d /tmp/etcd-medic-demo.XXXXXX)
((keep)) || etcd_on_exit "rm -rf '$work'"

# validate DIR: shows etcd-medic's verdict and exit status.
validate() {
	local rc=0
	echo "\$ etcd-medic validate --data-dir $1 $2"
	if [[ $2 == --json ]]; then
		"$medic" validate --data-dir "$1" "$2" >"$work/out.json" || rc=$?
		python3 -m json.tool "$work/out.json"
	else
		"$medic" validate --data-dir "$1" "$2" || rc=$?
	fi
	echo "(exit status $rc)"
	return 0
}

say "1. a real etcd $(etcd --version | head -1 | awk '{print $3}'), writing keys"
etcd_start "$work/data"
etcd_load mixed --keys 2000 --seed 7 >/dev/null
echo "wrote 2000 keys of mixed sizes (some span several bbolt pages)"
validate "$work/data" --mode=full

say "2. etcd stopped cleanly"
etcd_stop
validate "$work/data" --mode=full

say "3a. a copy with one bbolt page header overwritten (a misdirected write)"
cp -a "$work/data" "$work/bad-db"
python3 tests/lib/breakdb.py "$work/bad-db/member/snap/db"
validate "$work/bad-db" --json

say "3b. a copy with one bit flipped inside a WAL record"
cp -a "$work/data" "$work/bad-wal"
python3 - "$work/bad-wal/member/wal" <<'PY'
import glob, struct, sys
# Walk the frames of the first WAL file to its 20th record and flip a bit
# in the middle of its payload.
path = sorted(glob.glob(sys.argv[1] + '/*.wal'))[0]
with open(path, 'r+b') as f:
    data = bytearray(f.read())
    off = 0
    for _ in range(20):
        word = struct.unpack_from('<Q', data, off)[0]
        n, pad = word & ((1 << 56) - 1), (word >> 56) & 7 if word >> 63 else 0
        target, off = off + 8 + n // 2, off + 8 + n + pad
    data[target] ^= 0x10
    f.seek(0)
    f.write(data)
    print(f"{path.split('/')[-1]}: bit flipped at offset {target}")
PY
validate "$work/bad-wal" --json

say "3c. a copy whose last WAL record is torn (a crash mid-write)"
cp -a "$work/data" "$work/torn"
python3 - "$work/torn/member/wal" <<'PY'
import glob, struct, sys
# Zero the second half of the last record, as a write that reached the
# disk only in part leaves it: etcd truncates such a tail at start.
path = sorted(glob.glob(sys.argv[1] + '/*.wal'))[-1]
with open(path, 'r+b') as f:
    data = bytearray(f.read())
    off, last = 0, None
    while off + 8 <= len(data):
        word = struct.unpack_from('<Q', data, off)[0]
        n = word & ((1 << 56) - 1)
        if n == 0:
            break
        pad = (word >> 56) & 7 if word >> 63 else 0
        last, off = (off, n), off + 8 + n + pad
    start, n = last
    # zero from the first 512-byte boundary inside the record on
    cut = max(start + 8, (start + 8 + n // 2) // 512 * 512)
    end = start + 8 + n
    if end - cut < 512:
        end = cut + 512
    data[cut:end] = bytes(end - cut)
    f.seek(0)
    f.write(data)
    print(f"{path.split('/')[-1]}: bytes {cut}..{end} of the last record zeroed")
PY
validate "$work/torn" --mode=full

say "4. etcd starts on the data dir etcd-medic called healthy"
etcd_start "$work/data"
etcdctl_ get --prefix /mixed/ --keys-only | grep -c . | sed 's/^/keys readable after restart: /'
etcd_stop

say "done"
((keep)) && echo "data dirs kept in $work"
exit 0
