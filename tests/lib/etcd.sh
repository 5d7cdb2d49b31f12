# shellcheck shell=bash
# tests/lib/etcd.sh - helpers for tests that run a real etcd (the version
# under test: tests/lib/etcd-env.sh, sourced here) as a single member or a
# cluster on 127.0.0.1.  Source it:
#
#   . tests/lib/etcd.sh
#   etcd_start "$dir/data" --snapshot-count=50    # waits until healthy
#   etcd_write_mixed 2000
#   etcd_stop                                      # SIGTERM, wait
#
# One etcd at a time is "current" (ETCD_PID, ETCD_CLIENT_URL, ETCD_DATA_DIR,
# ETCD_LOG); every etcd and load generator started here is remembered and
# killed on exit, whether the test passes, fails or is interrupted.  Tests
# that need their own exit actions register them with etcd_on_exit rather
# than setting an EXIT trap (which would replace this one).
#
# Environment: EM_ETCD_DIR or EM_ETCD_VERSION (etcd-env.sh: which etcd),
# ETCD_START_TIMEOUT (seconds, default 20).

# shellcheck source=etcd-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/etcd-env.sh"
ETCD_START_TIMEOUT=${ETCD_START_TIMEOUT:-20}
ETCD_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ETCD_PYTHON=${ETCD_PYTHON:-python3}

ETCD_PID=
ETCD_CLIENT_URL=
ETCD_PEER_URL=
ETCD_DATA_DIR=
ETCD_LOG=
ETCD__PIDS=()        # "pid:what" of everything started here
ETCD__EXIT_HOOKS=()

etcd_log() { printf '[etcd.sh] %s\n' "$*" >&2; }

# etcd_on_exit CMD: run CMD (with eval) at exit, before etcd is stopped.
etcd_on_exit() { ETCD__EXIT_HOOKS+=("$1"); }

# etcd__stat PID FIELD: field FIELD (3 = state, 4 = parent pid) of
# /proc/PID/stat, empty if there is no such process.
etcd__stat() {
	local st
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	st=${st##*) } # after the command name, which may hold spaces
	read -ra st <<<"$st"
	echo "${st[$2 - 3]:-}"
}

# Is PID running (not gone, not a zombie)?
etcd__alive() {
	local state
	state=$(etcd__stat "$1" 3)
	[[ -n $state && $state != Z ]]
}

# Is PID still a process we started, not a recycled pid?  Either it is a
# child of this shell, or its command line contains WHAT.  (A child that
# has not reached its exec yet shows this shell's command line, so the
# parent test comes first.)
etcd__ours() {
	local pid=$1 what=$2 cmdline
	etcd__alive "$pid" || return 1
	[[ $(etcd__stat "$pid" 4) == "$BASHPID" ]] && return 0
	cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
	[[ $cmdline == *"$what"* ]]
}

# Stops one remembered process: SIGTERM, up to `grace` seconds, SIGKILL.
etcd__terminate() {
	local pid=$1 what=$2 grace=${3:-10} i
	etcd__ours "$pid" "$what" || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < grace * 10; i++)); do
		etcd__alive "$pid" || break
		sleep 0.1
	done
	if etcd__ours "$pid" "$what"; then
		etcd_log "pid $pid ($what) ignored SIGTERM for ${grace}s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	return 0
}

etcd__on_exit() {
	local rc=$? h entry
	trap - EXIT INT TERM
	for h in "${ETCD__EXIT_HOOKS[@]}"; do
		eval "$h" || true
	done
	for entry in "${ETCD__PIDS[@]}"; do
		etcd__terminate "${entry%%:*}" "${entry#*:}" 20
	done
	exit "$rc"
}
etcd__arm() {
	trap etcd__on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
etcd__arm

# etcd_run CMD...: runs CMD as a remembered background process and waits
# for it.  Unlike a command in the foreground, this wait ends at once when
# the shell gets SIGTERM or SIGINT, so the EXIT trap runs (and stops CMD)
# without waiting for CMD to finish.
etcd_run() {
	local p rc=0
	"$@" &
	p=$!
	etcd_track "$p" "$1"
	wait "$p" || rc=$?
	return "$rc"
}

# etcd_track PID WHAT: kill PID at exit too (TERM, then KILL), as long as
# its command line contains WHAT.
etcd_track() { ETCD__PIDS+=("$1:$2"); }

# etcd_free_ports N [LOW HIGH]: prints N distinct free TCP ports on
# 127.0.0.1, each checked by binding it (no SO_REUSEADDR); random in
# LOW-HIGH (default 20000-59999), so that tests running at the same time
# rarely race for one.
etcd_free_ports() {
	"$ETCD_PYTHON" - "$1" "${2:-20000}" "${3:-59999}" <<'EOF'
import random, socket, sys
n, lo, hi = map(int, sys.argv[1:4]); got = []
while len(got) < n:
    p = random.randint(lo, hi)
    if p in got:
        continue
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    got.append(p)
print(" ".join(map(str, got)))
EOF
}

# etcd_healthy URL: true when GET URL/health says {"health":"true"}.
etcd_healthy() {
	"$ETCD_PYTHON" - "$1" <<'EOF'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/health", timeout=2) as r:
        sys.exit(0 if json.load(r).get("health") == "true" else 1)
except Exception:
    sys.exit(1)
EOF
}

# etcd_start DATADIR [ETCD FLAGS...]: starts etcd as member "fixture" in
# DATADIR (created if missing) on free loopback ports and waits until it is
# healthy (ETCD_START_TIMEOUT).  Extra flags are passed through, e.g.
# --snapshot-count=50 --auto-compaction-mode=revision
# --auto-compaction-retention=100 --quota-backend-bytes=... --max-wals=3.
# Retries with other ports if one was taken meanwhile.  Returns 1, with the
# log's tail on stderr, if etcd exits or does not become healthy.
etcd_start() {
	local dir=$1 try cport pport i
	shift
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	ETCD_DATA_DIR=$dir
	ETCD_LOG=${dir%/}.etcd.log
	for try in 1 2 3; do
		read -r cport pport <<<"$(etcd_free_ports 2)"
		ETCD_CLIENT_URL=http://127.0.0.1:$cport
		ETCD_PEER_URL=http://127.0.0.1:$pport
		echo "=== etcd_start $(date +%T) try $try: $*" >>"$ETCD_LOG"
		"$EM_ETCD_BIN" --name fixture --data-dir "$dir" \
			--listen-client-urls "$ETCD_CLIENT_URL" --advertise-client-urls "$ETCD_CLIENT_URL" \
			--listen-peer-urls "$ETCD_PEER_URL" --initial-advertise-peer-urls "$ETCD_PEER_URL" \
			--initial-cluster "fixture=$ETCD_PEER_URL" --initial-cluster-token "etcd-medic-$$" \
			--logger zap --log-outputs stderr "$@" >>"$ETCD_LOG" 2>&1 &
		ETCD_PID=$!
		ETCD__PIDS+=("$ETCD_PID:$dir")
		for ((i = 0; i < ETCD_START_TIMEOUT * 10; i++)); do
			if ! etcd__alive "$ETCD_PID"; then
				break
			fi
			if etcd_healthy "$ETCD_CLIENT_URL"; then
				return 0
			fi
			sleep 0.1
		done
		if etcd__alive "$ETCD_PID"; then
			etcd_log "etcd in $dir not healthy after ${ETCD_START_TIMEOUT}s"
			etcd__terminate "$ETCD_PID" "$dir" 5
			break
		fi
		wait "$ETCD_PID" 2>/dev/null || true
		if ! tail -n 20 "$ETCD_LOG" | grep -q 'address already in use'; then
			break
		fi
		etcd_log "port taken while etcd started; trying other ports"
	done
	etcd_log "etcd failed to start in $dir; last lines of $ETCD_LOG:"
	tail -n 15 "$ETCD_LOG" >&2
	ETCD_PID=
	return 1
}

# etcd_stop: SIGTERM the current etcd and wait for it to exit (it syncs and
# closes the db and WAL).  SIGKILL after 15 s, which is reported.
etcd_stop() {
	[[ -n $ETCD_PID ]] || return 0
	etcd__terminate "$ETCD_PID" "$ETCD_DATA_DIR" 15
	ETCD_PID=
}

# etcd_kill9: SIGKILL the current etcd, as a crash would.
etcd_kill9() {
	[[ -n $ETCD_PID ]] || return 0
	kill -KILL "$ETCD_PID" 2>/dev/null || true
	wait "$ETCD_PID" 2>/dev/null || true
	ETCD_PID=
	return 0
}

# etcdctl_ ARGS...: etcdctl (API v3) against the current etcd.
etcdctl_() {
	ETCDCTL_API=3 "$EM_ETCDCTL_BIN" --endpoints "$ETCD_CLIENT_URL" --command-timeout=20s "$@"
}

# etcd_load ARGS...: tests/lib/etcdload.py against the current etcd.
etcd_load() {
	etcd_run "$ETCD_PYTHON" "$ETCD_LIB_DIR/etcdload.py" "$ETCD_CLIENT_URL" "$@"
}

# etcd_write_mixed NKEYS [SEED [MAXSIZE]]: keys of many sizes (a tenth of
# them 5000..MAXSIZE bytes, default 120 KiB: larger than a bbolt page, so
# overflow pages appear), overwrites, deletes, a range delete, keys on
# leases, a physical compaction; then, with etcdctl, one more lease, a user
# and a role with a permission (so the auth buckets have content).
etcd_write_mixed() {
	local n=$1 seed=${2:-1} max=${3:-122880} lease
	etcd_load mixed --keys "$n" --seed "$seed" --max-size "$max" >/dev/null || return 1
	lease=$(etcdctl_ lease grant 86400 | awk '{print $2}') || return 1
	etcdctl_ put /leased/etcdctl "leased by etcdctl" --lease="$lease" >/dev/null || return 1
	etcdctl_ user add "app:app-password" >/dev/null || return 1
	etcdctl_ role add app-rw >/dev/null || return 1
	etcdctl_ role grant-permission app-rw --prefix=true readwrite /mixed/ >/dev/null || return 1
	etcdctl_ user grant-role app app-rw >/dev/null || return 1
}

# etcd_enable_auth: adds root (password "root") and turns auth on, so that
# auth/authEnabled is set.  Later etcdctl_ calls need --user root:root.
etcd_enable_auth() {
	etcdctl_ user add "root:root" >/dev/null || return 1
	etcdctl_ user grant-role root root >/dev/null || return 1
	etcdctl_ auth enable >/dev/null || return 1
}

# etcd_write_big COUNT SIZE [KEYS] [COMPACT_EVERY]: COUNT puts of SIZE bytes
# over KEYS keys, compacting every COMPACT_EVERY puts; grows the WAL by about
# COUNT*SIZE bytes (64 MB make one WAL file) while the db stays small.
etcd_write_big() {
	etcd_load big --count "$1" --size "$2" --keys "${3:-8}" --compact-every "${4:-0}" >/dev/null
}

# etcd_compact: compacts to the current revision (physically).
etcd_compact() {
	local rev
	rev=$(etcdctl_ endpoint status --write-out=json |
		"$ETCD_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])') || return 1
	etcdctl_ compact --physical "$rev" >/dev/null
}

# etcd_burst_kill9 MIN_PUTS: starts a write burst and, once etcd has
# acknowledged at least MIN_PUTS of its puts (so that it is in full swing,
# however slow the disk), kills etcd with SIGKILL while the burst goes on;
# then waits for the writer to give up.  Fails if the burst stalls for 60 s.
etcd_burst_kill9() {
	local min=$1 loader progress=${ETCD_LOG%.etcd.log}.burst i n=0
	rm -f "$progress"
	# A simple command, so that $! is python itself, not a subshell.
	"$ETCD_PYTHON" "$ETCD_LIB_DIR/etcdload.py" "$ETCD_CLIENT_URL" burst \
		--seconds 120 --progress "$progress" >/dev/null &
	loader=$!
	etcd_track "$loader" etcdload.py
	for ((i = 0; i < 600; i++)); do
		[[ -s $progress ]] && read -r n <"$progress"
		((n >= min)) && break
		etcd__alive "$loader" || break
		sleep 0.1
	done
	if ((n < min)) || ! etcd__alive "$loader"; then
		etcd_log "the write burst made $n puts, not $min, or ended before the kill"
		etcd__terminate "$loader" etcdload.py 5
		return 1
	fi
	etcd_kill9
	wait "$loader" 2>/dev/null || true
	rm -f "$progress"
	return 0
}

# --- Clusters, learners, TLS (the gateway tests) ---------------------------
#
#   etcd_cluster_start "$dir/cluster" 3     # m1..m3, waits for a leader
#   etcd_member_launch learner "$dir/l" "$curl" "$purl" "$initial" existing
#   etcd_wait_up "$curl" "$ETCD_LAUNCHED_PID"
#   etcd_cluster_stop_member 1              # m2
#   etcd_tls_certs "$dir/pki"; etcd_start_tls "$dir/tls" "$dir/pki"

# Ports below Linux's ephemeral range (32768-60999): a member's peer port
# must stay free while the cluster already dials it (a learner added
# before its etcd starts), and no outgoing connection can take these.
ETCD_STABLE_PORTS="20000 32767"

ETCD_CLUSTER_NAMES=()
ETCD_CLUSTER_CLIENT_URLS=()
ETCD_CLUSTER_PEER_URLS=()
ETCD_CLUSTER_PIDS=()
ETCD_CLUSTER_DIRS=()
ETCD_CLUSTER_INITIAL=
ETCD_LAUNCHED_PID=

# etcd_member_launch NAME DIR CLIENT_URL PEER_URL INITIAL_CLUSTER STATE
# [ETCD FLAGS...]: starts one member in the background (remembered and
# stopped at exit) with its log in DIR.etcd.log, and returns at once; its
# pid is in ETCD_LAUNCHED_PID.  STATE is "new" or "existing".  The peer
# URL's scheme is http; CLIENT_URL may be https (pass the TLS flags).
etcd_member_launch() {
	local name=$1 dir=$2 curl=$3 purl=$4 initial=$5 state=$6
	shift 6
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	echo "=== etcd_member_launch $(date +%T) $name: $*" >>"${dir%/}.etcd.log"
	"$EM_ETCD_BIN" --name "$name" --data-dir "$dir" \
		--listen-client-urls "$curl" --advertise-client-urls "$curl" \
		--listen-peer-urls "$purl" --initial-advertise-peer-urls "$purl" \
		--initial-cluster "$initial" --initial-cluster-state "$state" \
		--initial-cluster-token "etcd-medic-$$" \
		--logger zap --log-outputs stderr "$@" >>"${dir%/}.etcd.log" 2>&1 &
	ETCD_LAUNCHED_PID=$!
	ETCD__PIDS+=("$ETCD_LAUNCHED_PID:$dir")
}

# etcd_status_up URL [CA CERT KEY]: true when the member at URL answers a
# gateway status naming a leader.  Unlike /health, a learner answers it.
etcd_status_up() {
	"$ETCD_PYTHON" - "$@" <<'PYEOF'
import json, ssl, sys, urllib.request
url = sys.argv[1]
ctx = None
if len(sys.argv) > 2:
    ctx = ssl.create_default_context(cafile=sys.argv[2])
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
try:
    req = urllib.request.Request(url + "/v3/maintenance/status", data=b"{}",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=2, context=ctx) as r:
        sys.exit(0 if json.load(r).get("leader") else 1)
except Exception:
    sys.exit(1)
PYEOF
}

# etcd_wait_up URL PID [CA CERT KEY]: waits (ETCD_START_TIMEOUT) until the
# member at URL answers with a leader; 1, with its log's tail, if process
# PID exits first or time runs out.
etcd_wait_up() {
	local url=$1 pid=$2 i dir entry
	shift 2
	for ((i = 0; i < ETCD_START_TIMEOUT * 10; i++)); do
		etcd__alive "$pid" || break
		etcd_status_up "$url" "$@" && return 0
		sleep 0.1
	done
	for entry in "${ETCD__PIDS[@]}"; do
		[[ ${entry%%:*} == "$pid" ]] && dir=${entry#*:}
	done
	etcd_log "etcd pid $pid at $url did not come up; last lines of its log:"
	[[ -n ${dir:-} ]] && tail -n 15 "${dir%/}.etcd.log" >&2
	return 1
}

# etcd_cluster_start DIR N [ETCD FLAGS...]: a new cluster of N members
# m1..mN in DIR/m1..DIR/mN on free loopback ports; waits until each answers
# with a leader.  Fills ETCD_CLUSTER_NAMES, _CLIENT_URLS, _PEER_URLS, _PIDS,
# _DIRS (indexed from 0) and ETCD_CLUSTER_INITIAL (the initial-cluster
# string).
etcd_cluster_start() {
	local dir=$1 n=$2 i ports
	shift 2
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	read -ra ports <<<"$(etcd_free_ports $((2 * n)) $ETCD_STABLE_PORTS)"
	ETCD_CLUSTER_NAMES=() ETCD_CLUSTER_CLIENT_URLS=() ETCD_CLUSTER_PEER_URLS=()
	ETCD_CLUSTER_PIDS=() ETCD_CLUSTER_DIRS=() ETCD_CLUSTER_INITIAL=
	for ((i = 0; i < n; i++)); do
		ETCD_CLUSTER_NAMES+=("m$((i + 1))")
		ETCD_CLUSTER_CLIENT_URLS+=("http://127.0.0.1:${ports[2 * i]}")
		ETCD_CLUSTER_PEER_URLS+=("http://127.0.0.1:${ports[2 * i + 1]}")
		ETCD_CLUSTER_DIRS+=("$dir/m$((i + 1))")
		ETCD_CLUSTER_INITIAL+="${ETCD_CLUSTER_INITIAL:+,}m$((i + 1))=${ETCD_CLUSTER_PEER_URLS[i]}"
	done
	for ((i = 0; i < n; i++)); do
		etcd_member_launch "${ETCD_CLUSTER_NAMES[i]}" "${ETCD_CLUSTER_DIRS[i]}" \
			"${ETCD_CLUSTER_CLIENT_URLS[i]}" "${ETCD_CLUSTER_PEER_URLS[i]}" \
			"$ETCD_CLUSTER_INITIAL" new "$@"
		ETCD_CLUSTER_PIDS+=("$ETCD_LAUNCHED_PID")
	done
	for ((i = 0; i < n; i++)); do
		etcd_wait_up "${ETCD_CLUSTER_CLIENT_URLS[i]}" "${ETCD_CLUSTER_PIDS[i]}" || return 1
	done
}

# etcd_cluster_stop_member I: SIGTERM member I (from 0) and wait for it.
etcd_cluster_stop_member() {
	etcd__terminate "${ETCD_CLUSTER_PIDS[$1]}" "${ETCD_CLUSTER_DIRS[$1]}" 15
}

# etcd_tls_certs DIR: a CA (ca.pem) and, signed by it, a server certificate
# for 127.0.0.1 and localhost (server.pem, server-key.pem; usable as a
# client too, as etcd's own gateway needs) and a client certificate
# (client.pem, client-key.pem, CN "root").  EC P-256 keys, 2 days.
etcd_tls_certs() {
	local d=$1 ext
	mkdir -p "$d"
	ext=$d/ext.cnf
	cat >"$ext" <<'CNFEOF'
[server]
subjectAltName = IP:127.0.0.1, DNS:localhost
extendedKeyUsage = serverAuth, clientAuth
keyUsage = digitalSignature, keyEncipherment
[client]
extendedKeyUsage = clientAuth
keyUsage = digitalSignature, keyEncipherment
CNFEOF
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/ca-key.pem" -out "$d/ca.pem" -days 2 \
		-subj "/CN=etcd-medic test CA" 2>/dev/null || return 1
	etcd__tls_leaf "$d" server "/CN=127.0.0.1" "$ext" || return 1
	etcd__tls_leaf "$d" client "/CN=root" "$ext"
}

etcd__tls_leaf() {
	local d=$1 name=$2 subj=$3 ext=$4
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/$name-key.pem" -out "$d/$name.csr" -subj "$subj" 2>/dev/null &&
		openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" \
			-CAcreateserial -days 2 -extfile "$ext" -extensions "$name" \
			-out "$d/$name.pem" 2>/dev/null
}

# etcd_start_tls DIR CERTDIR [ETCD FLAGS...]: like etcd_start, but the
# client URL is https with the certificates of etcd_tls_certs CERTDIR and
# client-certificate authentication.  Sets the same ETCD_* variables, so
# etcd_stop works; etcdctl_ does not (it has no TLS flags).
etcd_start_tls() {
	local dir=$1 pki=$2 cport pport
	shift 2
	mkdir -p "$dir"
	ETCD_DATA_DIR=$(cd "$dir" && pwd)
	ETCD_LOG=${ETCD_DATA_DIR%/}.etcd.log
	read -r cport pport <<<"$(etcd_free_ports 2 $ETCD_STABLE_PORTS)"
	ETCD_CLIENT_URL=https://127.0.0.1:$cport
	ETCD_PEER_URL=http://127.0.0.1:$pport
	etcd_member_launch fixture "$ETCD_DATA_DIR" "$ETCD_CLIENT_URL" "$ETCD_PEER_URL" \
		"fixture=$ETCD_PEER_URL" new \
		--cert-file "$pki/server.pem" --key-file "$pki/server-key.pem" \
		--trusted-ca-file "$pki/ca.pem" --client-cert-auth "$@"
	ETCD_PID=$ETCD_LAUNCHED_PID
	etcd_wait_up "$ETCD_CLIENT_URL" "$ETCD_PID" \
		"$pki/ca.pem" "$pki/client.pem" "$pki/client-key.pem"
}
