#!/usr/bin/env bash
# servers.sh - start and stop throwaway Redis servers for the test suite.
#
# Every server listens on 127.0.0.1 only, on a free port picked at random, and
# lives in its own directory under STATE_DIR. `start` writes STATE_DIR/env with
# the export lines the Go tests read; `stop` kills only what `start` recorded.
# Run with --help for usage.
set -euo pipefail

PROG=${0##*/}
HOST=127.0.0.1
# Seconds to wait for each readiness condition (server up, cluster ok, ...).
TIMEOUT=${REDIS_SERVERS_TIMEOUT:-10}
# Seconds between SIGTERM and SIGKILL in stop.
KILL_GRACE=5
# Client ports come from [PORT_BASE, PORT_BASE+PORT_SPAN), below Linux's usual
# ephemeral range; port+10000 (the cluster bus port) must be free as well.
PORT_BASE=20000
PORT_SPAN=10000
SENTINEL_MASTER=mymaster
ALL_KINDS=(standalone cluster sentinel)
# Kinds started only when named: tests that kill nodes start their own.
EXTRA_KINDS=(ha-cluster)

usage() {
	cat <<EOF
Usage:
  $PROG start STATE_DIR [standalone] [cluster] [sentinel] [ha-cluster]
  $PROG stop STATE_DIR
  $PROG --help

Starts/stops throwaway Redis servers on free 127.0.0.1 ports, each with its own
directory under STATE_DIR. With no kinds, start starts the first three:

  standalone  one redis-server
  cluster     three cluster masters (no replicas) covering all 16384 slots
  sentinel    a master, one replica and one sentinel monitoring
              "$SENTINEL_MASTER" (quorum 1)
  ha-cluster  six cluster nodes: three masters covering all slots, each with
              one replica that takes over when it fails (only when named;
              failover tests start one of their own)

start waits until everything is ready and writes STATE_DIR/env:
  export REDISCLIENT_TEST_URL=redis://127.0.0.1:PORT/0
  export REDISCLIENT_TEST_CLUSTER_ADDRS=127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
  export REDISCLIENT_TEST_SENTINEL_ADDRS=127.0.0.1:SPORT
  export REDISCLIENT_TEST_SENTINEL_MASTER=$SENTINEL_MASTER
  export REDISCLIENT_TEST_SENTINEL_MASTER_ADDR=127.0.0.1:MPORT
  export REDISCLIENT_TEST_SENTINEL_REPLICA_ADDR=127.0.0.1:RPORT
  export REDISCLIENT_TEST_HA_CLUSTER_ADDRS=127.0.0.1:P1,...,127.0.0.1:P6
(only the lines for the kinds started; the ha-cluster's masters come first). If any step fails, the servers already
started are stopped and start exits non-zero.

stop kills every server recorded in STATE_DIR (SIGTERM, then SIGKILL after
${KILL_GRACE}s), tolerates servers that are already gone, never touches a process
it did not start, and may be run any number of times.

Needs redis-server and redis-cli (and redis-sentinel, or a redis-server that
accepts --sentinel). REDIS_SERVERS_TIMEOUT overrides the ${TIMEOUT}s readiness timeout.

Example:
  $PROG start /tmp/redis-test
  . /tmp/redis-test/env && go test ./...
  $PROG stop /tmp/redis-test
EOF
}

usage_error() {
	[[ $# -eq 0 ]] || log "error: $*"
	cat >&2 <<EOF
Usage: $PROG start STATE_DIR [standalone] [cluster] [sentinel] [ha-cluster]
       $PROG stop STATE_DIR
Run '$PROG --help' for details.
EOF
	exit 2
}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# Milliseconds since the epoch (second precision without bash 5's EPOCHREALTIME).
now_ms() {
	local t=${EPOCHREALTIME:-}
	if [[ -n $t ]]; then
		t=${t//[!0-9]/}
		echo $((10#$t / 1000))
	else
		echo $(($(date +%s) * 1000))
	fi
}

# redis-cli against 127.0.0.1, bounded in time (RCLI_TIMEOUT seconds) when
# timeout(1) exists.
RCLI_TIMEOUT=5
rcli() {
	if command -v timeout >/dev/null 2>&1; then
		timeout "$RCLI_TIMEOUT" redis-cli -h "$HOST" "$@"
	else
		redis-cli -h "$HOST" "$@"
	fi
}

# Field NAME of an INFO-style reply on stdin (CRs stripped).
info_field() {
	tr -d '\r' | sed -n "s/^$1://p"
}

# ---------------------------------------------------------------- ports

declare -A TAKEN_PORTS=()
PICKED_PORT=

port_in_use() {
	# A successful connect means something listens there.
	(exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# Sets PICKED_PORT to a random port P such that P and P+10000 look free and
# were not handed out before by this run.
pick_port() {
	local p i
	for ((i = 0; i < 500; i++)); do
		p=$((PORT_BASE + (RANDOM * 32768 + RANDOM) % PORT_SPAN))
		[[ -z ${TAKEN_PORTS[$p]:-} && -z ${TAKEN_PORTS[$((p + 10000))]:-} ]] || continue
		port_in_use "$p" && continue
		port_in_use "$((p + 10000))" && continue
		TAKEN_PORTS[$p]=1
		TAKEN_PORTS[$((p + 10000))]=1
		PICKED_PORT=$p
		return 0
	done
	die "no free port found in $PORT_BASE-$((PORT_BASE + PORT_SPAN - 1))"
}

# ---------------------------------------------------------------- processes

# True if PID exists and is not a zombie (an exited daemon stays a zombie until
# its parent, often init, reaps it; that may take a while in containers).
alive() {
	local pid=$1 stat
	kill -0 "$pid" 2>/dev/null || return 1
	if [[ -r /proc/$pid/stat ]]; then
		stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
		stat=${stat##*) }
		[[ ${stat%% *} != Z ]]
	else
		stat=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
		[[ $stat != Z* ]]
	fi
}

# True if PID is alive and is a redis process running in DIR (the --dir it was
# started with), so a recycled pid is never mistaken for one of ours.
is_ours() {
	local pid=$1 dir=$2 comm
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" || return 1
	if [[ -d /proc/$pid ]]; then
		[[ /proc/$pid/cwd -ef $dir ]] || return 1
		comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
	else
		comm=$(ps -o comm= -p "$pid" 2>/dev/null) || return 1
	fi
	case $comm in
	*redis-server* | *redis-sentinel*) return 0 ;;
	*) return 1 ;;
	esac
}

# Prints the pids of live servers recorded in STATE_DIR, one per line.
recorded_pids() {
	local sd=$1 pidfile dir pid p
	local -a dirs=()
	[[ -f $sd/pidfiles ]] || return 0
	while IFS= read -r pidfile; do
		[[ -n $pidfile ]] || continue
		dir=${pidfile%/*}
		dirs+=("$dir")
		pid=
		if [[ -s $pidfile ]]; then
			pid=$(tr -d '[:space:]' <"$pidfile")
		fi
		if is_ours "$pid" "$dir"; then
			echo "$pid"
		fi
	done <"$sd/pidfiles"
	# Safety net on Linux: a server whose pidfile is not written yet (start
	# failed right after launching it) is still found by its working directory.
	if ((${#dirs[@]} > 0)) && [[ -d /proc/self ]]; then
		for p in /proc/[0-9]*; do
			pid=${p#/proc/}
			for dir in "${dirs[@]}"; do
				if [[ $p/cwd -ef $dir ]] && is_ours "$pid" "$dir"; then
					echo "$pid"
					break
				fi
			done
		done
	fi
}

stop_servers() {
	local sd=$1 pid i
	local -a pids=() left=()
	if [[ ! -f $sd/pidfiles ]]; then
		rm -f "$sd/env"
		log "nothing recorded in $sd"
		return 0
	fi
	mapfile -t pids < <(recorded_pids "$sd" | sort -un)
	if ((${#pids[@]} == 0)); then
		log "no live servers in $sd"
	else
		log "stopping ${#pids[@]} server(s): ${pids[*]}"
		kill -TERM "${pids[@]}" 2>/dev/null || true
		for ((i = 0; i < KILL_GRACE * 10; i++)); do
			left=()
			for pid in "${pids[@]}"; do
				if alive "$pid"; then left+=("$pid"); fi
			done
			((${#left[@]} > 0)) || break
			sleep 0.1
		done
		if ((${#left[@]} > 0)); then
			log "sending SIGKILL to ${left[*]}"
			kill -KILL "${left[@]}" 2>/dev/null || true
			sleep 0.2
		fi
	fi
	rm -f "$sd/env"
	if [[ -n $(recorded_pids "$sd") ]]; then
		log "error: some servers in $sd are still alive"
		return 1
	fi
	rm -f "$sd/pidfiles"
	return 0
}

# ---------------------------------------------------------------- launching

STATE_DIR=
LAUNCHED_PORT=

show_log() {
	local logf=$1/redis.log
	if [[ -s $logf ]]; then
		log "last lines of $logf:"
		tail -n 20 "$logf" >&2
	else
		log "(no log at $logf)"
	fi
}

# Pid of the server started in DIR: from its pidfile or, as Redis 7 writes the
# pidfile only once it listens, from the pid prefix of its latest log line
# written in a server role (M master, S replica, X sentinel).
server_pid() {
	local dir=$1 pid=
	if [[ -s $dir/redis.pid ]]; then
		pid=$(tr -d '[:space:]' <"$dir/redis.pid")
	elif [[ -s $dir/redis.log ]]; then
		pid=$(sed -n 's/^\([0-9][0-9]*\):[MSX] .*/\1/p' "$dir/redis.log" | tail -n 1)
	fi
	echo "$pid"
}

# wait_ready PORT DIR: 0 once the server we started in DIR answers on PORT,
# 2 if it failed with "address in use" (caller retries on another port), 1 else.
wait_ready() {
	local port=$1 dir=$2 end=$((SECONDS + TIMEOUT)) pid reply
	while ((SECONDS <= end)); do
		pid=$(server_pid "$dir")
		if [[ -s $dir/redis.pid ]]; then
			# Ready when the server answering on PORT is the one we started
			# (a concurrent run could have grabbed the port first).
			reply=$(rcli -p "$port" info server 2>/dev/null | info_field process_id) || true
			[[ $reply != "$pid" ]] || return 0
		fi
		if grep -qi 'already in use' "$dir/redis.log" 2>/dev/null; then
			return 2
		fi
		if [[ -n $pid ]] && ! alive "$pid"; then
			log "server in $dir (port $port) exited"
			return 1
		fi
		sleep 0.05
	done
	log "server in $dir (port $port) not ready after ${TIMEOUT}s"
	return 1
}

write_sentinel_conf() {
	local dir=$1 port=$2 master_port=$3
	cat >"$dir/sentinel.conf" <<EOF
port $port
bind $HOST
daemonize yes
pidfile "$dir/redis.pid"
logfile "$dir/redis.log"
dir "$dir"
sentinel monitor $SENTINEL_MASTER $HOST $master_port 1
sentinel down-after-milliseconds $SENTINEL_MASTER 1000
sentinel failover-timeout $SENTINEL_MASTER 5000
sentinel parallel-syncs $SENTINEL_MASTER 1
EOF
}

# launch KIND DIR [ARGS...]: start a daemonized server (KIND server: redis-server
# with ARGS appended; KIND sentinel: ARGS is the master port) on a fresh port,
# record its pid file and wait until it is up. Sets LAUNCHED_PORT.
launch() {
	local kind=$1 dir=$2 attempt rc port
	shift 2
	mkdir -p "$dir"
	echo "$dir/redis.pid" >>"$STATE_DIR/pidfiles"
	for attempt in 1 2 3; do
		pick_port
		port=$PICKED_PORT
		rm -f "$dir/redis.pid"
		: >"$dir/redis.log"
		case $kind in
		server)
			redis-server --port "$port" --bind "$HOST" --daemonize yes \
				--pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
				--save '' --appendonly no "$@" >>"$dir/redis.log" 2>&1 ||
				{
					show_log "$dir"
					die "redis-server failed to start in $dir"
				}
			;;
		sentinel)
			write_sentinel_conf "$dir" "$port" "$1"
			if command -v redis-sentinel >/dev/null 2>&1; then
				redis-sentinel "$dir/sentinel.conf" >>"$dir/redis.log" 2>&1
			else
				redis-server "$dir/sentinel.conf" --sentinel >>"$dir/redis.log" 2>&1
			fi || {
				show_log "$dir"
				die "redis-sentinel failed to start in $dir"
			}
			;;
		esac
		rc=0
		wait_ready "$port" "$dir" || rc=$?
		if ((rc == 0)); then
			LAUNCHED_PORT=$port
			return 0
		fi
		if ((rc != 2)); then
			show_log "$dir"
			die "could not start server in $dir"
		fi
		log "port $port was taken, retrying (attempt $attempt)"
	done
	show_log "$dir"
	die "could not start server in $dir: ports kept being taken"
}

# wait_until DESCRIPTION COMMAND...: poll COMMAND until it succeeds or TIMEOUT.
wait_until() {
	local what=$1 end=$((SECONDS + TIMEOUT))
	shift
	while ((SECONDS <= end)); do
		if "$@"; then return 0; fi
		sleep 0.1
	done
	log "timed out after ${TIMEOUT}s waiting for $what"
	return 1
}

# The predicates below are run through wait_until.
# cluster_node_ok PORT NODES: the node sees the cluster ok, every slot served
# and NODES nodes.
# shellcheck disable=SC2317,SC2329
cluster_node_ok() {
	local info
	info=$(rcli -p "$1" cluster info 2>/dev/null | tr -d '\r') || return 1
	grep -qx 'cluster_state:ok' <<<"$info" &&
		grep -qx 'cluster_slots_ok:16384' <<<"$info" &&
		grep -qx "cluster_known_nodes:$2" <<<"$info"
}

# cluster_ok PORT...: every node is ok and knows all the others; every
# replica's link to its master is up.
# shellcheck disable=SC2317,SC2329
cluster_ok() {
	local p
	for p in "$@"; do
		cluster_node_ok "$p" "$#" || return 1
		if [[ $(rcli -p "$p" info replication 2>/dev/null | info_field role) == slave ]]; then
			replica_link_up "$p" || return 1
		fi
	done
}

# shellcheck disable=SC2317,SC2329
replica_link_up() {
	[[ $(rcli -p "$1" info replication 2>/dev/null | info_field master_link_status) == up ]]
}

# shellcheck disable=SC2317,SC2329
sentinel_sees() {
	local sport=$1 mport=$2 rport=$3 addr
	addr=$(rcli -p "$sport" sentinel get-master-addr-by-name "$SENTINEL_MASTER" 2>/dev/null | tr '\n' ' ') || return 1
	[[ $addr == "$HOST $mport " ]] || return 1
	# Also wait until the sentinel has discovered the replica.
	rcli -p "$sport" sentinel replicas "$SENTINEL_MASTER" 2>/dev/null | grep -qxF "$HOST:$rport"
}

start_standalone() {
	log "standalone: starting"
	launch server "$STATE_DIR/standalone"
	ENV_LINES+=("export REDISCLIENT_TEST_URL=redis://$HOST:$LAUNCHED_PORT/0")
	log "standalone: ready on $HOST:$LAUNCHED_PORT"
}

# start_cluster KIND REPLICAS VAR: a cluster of three masters with REPLICAS
# replicas each, in STATE_DIR/KIND, its addresses (masters first) in VAR.
start_cluster() {
	local kind=$1 replicas=$2 var=$3 i p nodes addrs=() ports=() masters=() others=()
	nodes=$((3 * (1 + replicas)))
	log "$kind: starting $nodes nodes"
	for ((i = 1; i <= nodes; i++)); do
		launch server "$STATE_DIR/$kind/node$i" \
			--cluster-enabled yes --cluster-config-file nodes.conf \
			--cluster-node-timeout 2000 --repl-diskless-sync-delay 0
		ports+=("$LAUNCHED_PORT")
		addrs+=("$HOST:$LAUNCHED_PORT")
	done
	log "$kind: creating on ${addrs[*]}"
	# Subshell, so that the redirection is not in force in this shell when a
	# deferred INT/TERM trap runs (its messages would land in create.log).
	if ! (
		RCLI_TIMEOUT=$((TIMEOUT * 3))
		rcli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes
	) >"$STATE_DIR/$kind/create.log" 2>&1; then
		tail -n 20 "$STATE_DIR/$kind/create.log" >&2
		die "redis-cli --cluster create failed"
	fi
	wait_until "cluster_state:ok on all nodes" cluster_ok "${ports[@]}" ||
		die "$kind did not become ready (see $STATE_DIR/$kind)"
	for p in "${ports[@]}"; do
		if [[ $(rcli -p "$p" info replication | info_field role) == master ]]; then
			masters+=("$HOST:$p")
		else
			others+=("$HOST:$p")
		fi
	done
	addrs=("${masters[@]}" "${others[@]}")
	ENV_LINES+=("export $var=$(
		IFS=,
		echo "${addrs[*]}"
	)")
	log "$kind: ready on ${addrs[*]}"
}

start_sentinel() {
	local mport rport sport
	log "sentinel: starting master, replica and sentinel"
	launch server "$STATE_DIR/sentinel/master" --repl-diskless-sync-delay 0
	mport=$LAUNCHED_PORT
	launch server "$STATE_DIR/sentinel/replica" --replicaof "$HOST" "$mport" \
		--repl-diskless-sync-delay 0
	rport=$LAUNCHED_PORT
	wait_until "replica master_link_status:up" replica_link_up "$rport" || {
		show_log "$STATE_DIR/sentinel/replica"
		die "replica did not sync with the master"
	}
	launch sentinel "$STATE_DIR/sentinel/sentinel" "$mport"
	sport=$LAUNCHED_PORT
	wait_until "sentinel to report master and replica" \
		sentinel_sees "$sport" "$mport" "$rport" || {
		show_log "$STATE_DIR/sentinel/sentinel"
		die "sentinel did not see the master and replica"
	}
	ENV_LINES+=(
		"export REDISCLIENT_TEST_SENTINEL_ADDRS=$HOST:$sport"
		"export REDISCLIENT_TEST_SENTINEL_MASTER=$SENTINEL_MASTER"
		"export REDISCLIENT_TEST_SENTINEL_MASTER_ADDR=$HOST:$mport"
		"export REDISCLIENT_TEST_SENTINEL_REPLICA_ADDR=$HOST:$rport"
	)
	log "sentinel: ready (sentinel $HOST:$sport, master $HOST:$mport, replica $HOST:$rport)"
}

# ---------------------------------------------------------------- commands

START_OK=0
ENV_LINES=()

# EXIT trap of start.
# shellcheck disable=SC2317,SC2329
on_start_exit() {
	local rc=$?
	if ((START_OK == 0)); then
		log "start failed; stopping the servers it started"
		stop_servers "$STATE_DIR" || true
		((rc != 0)) || rc=1
	fi
	exit "$rc"
}

abs_dir() {
	mkdir -p "$1"
	(cd "$1" && pwd -P)
}

cmd_start() {
	local kind k t0 t1
	local -A want=()
	(($# >= 1)) || usage_error "start needs STATE_DIR"
	local raw_dir=$1
	shift
	(($# > 0)) || set -- "${ALL_KINDS[@]}"
	for kind in "$@"; do
		case $kind in
		standalone | cluster | sentinel | ha-cluster) want[$kind]=1 ;;
		*) usage_error "unknown kind '$kind' (want: ${ALL_KINDS[*]} ${EXTRA_KINDS[*]})" ;;
		esac
	done
	[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "REDIS_SERVERS_TIMEOUT must be a positive integer"
	for k in redis-server redis-cli; do
		command -v "$k" >/dev/null 2>&1 || die "$k not found in PATH"
	done

	STATE_DIR=$(abs_dir "$raw_dir")
	if [[ -n $(recorded_pids "$STATE_DIR") ]]; then
		die "servers from an earlier start are still running in $STATE_DIR; run '$PROG stop $STATE_DIR' first"
	fi
	rm -rf "$STATE_DIR/standalone" "$STATE_DIR/cluster" "$STATE_DIR/sentinel" "$STATE_DIR/ha-cluster"
	rm -f "$STATE_DIR/pidfiles" "$STATE_DIR/env" "$STATE_DIR/env.tmp"
	: >"$STATE_DIR/pidfiles"

	trap on_start_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	t0=$(now_ms)
	for kind in "${ALL_KINDS[@]}" "${EXTRA_KINDS[@]}"; do
		[[ -n ${want[$kind]:-} ]] || continue
		t1=$(now_ms)
		case $kind in
		standalone) start_standalone ;;
		cluster) start_cluster cluster 0 REDISCLIENT_TEST_CLUSTER_ADDRS ;;
		sentinel) start_sentinel ;;
		ha-cluster) start_cluster ha-cluster 1 REDISCLIENT_TEST_HA_CLUSTER_ADDRS ;;
		esac
		log "$kind: took $(($(now_ms) - t1)) ms"
	done

	printf '%s\n' "${ENV_LINES[@]}" >"$STATE_DIR/env.tmp"
	mv "$STATE_DIR/env.tmp" "$STATE_DIR/env"
	START_OK=1
	log "all ready in $(($(now_ms) - t0)) ms; env written to $STATE_DIR/env"
}

cmd_stop() {
	(($# == 1)) || usage_error "stop takes exactly STATE_DIR"
	if [[ ! -d $1 ]]; then
		log "nothing to stop: $1 does not exist"
		return 0
	fi
	stop_servers "$(cd "$1" && pwd -P)"
}

main() {
	case ${1:-} in
	-h | --help | help)
		usage
		;;
	start)
		shift
		cmd_start "$@"
		;;
	stop)
		shift
		cmd_stop "$@"
		;;
	*) usage_error ;;
	esac
}

main "$@"
