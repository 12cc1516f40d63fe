#!/usr/bin/env bash
# Start a Redis server with deploy/redis.conf for development or a small host.
# Run with --help for usage. Production hosts with systemd should use
# deploy/redisclient-redis.service instead.
set -euo pipefail

readonly EXIT_OK=0
readonly EXIT_ERROR=1          # bad environment: redis-server missing, unreadable files
readonly EXIT_USAGE=2          # bad command line
readonly EXIT_PORT_IN_USE=3    # something already listens on the port
readonly EXIT_NOT_READY=4      # redis-server failed or did not answer PING in time

prog=$(basename "$0")
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	cat <<EOF
Usage: $prog [options]

Start redis-server with $script_dir/redis.conf, bound to loopback.
Settings that differ per host are given on the redis-server command line
(port, data dir, log file, pid file); the password goes into a local include
file, never onto a command line.

Options:
  --port N              TCP port on 127.0.0.1 and ::1 (default: 6379)
  --dir DIR             data directory for RDB/AOF files, pid file and
                        local.conf (default: \$XDG_STATE_HOME/redisclient-redis/data,
                        i.e. ~/.local/state/redisclient-redis/data)
  --log-dir DIR         log directory; the log is DIR/redis-PORT.log
                        (default: \$XDG_STATE_HOME/redisclient-redis/log)
  --password-file FILE  require the password on the first line of FILE. It is
                        written to DIR/local.conf (mode 0600) and included from
                        there; it is never passed as an argument or printed.
                        Without this option the server needs no password.
  --foreground          run in the foreground, logging to stdout, until
                        interrupted (for terminals and process supervisors)
  --timeout SECS        how long to wait for PING after a background start
                        (default: 10)
  -h, --help            show this help and exit

Environment:
  REDIS_SERVER          redis-server binary to run (default: redis-server)

Exit codes:
  $EXIT_OK  server started (or, with --foreground, exited cleanly)
  $EXIT_ERROR  bad environment: redis-server not found, unreadable password file, ...
  $EXIT_USAGE  bad command line
  $EXIT_PORT_IN_USE  the port is already in use; the message names the listener.
     Nothing is killed: stop that process or choose another --port.
  $EXIT_NOT_READY  redis-server exited or did not answer PING within --timeout

Stop a background server with: kill \$(cat DIR/redis-PORT.pid)
EOF
}

die() { # die CODE MESSAGE...
	local code=$1
	shift
	printf '%s: %s\n' "$prog" "$*" >&2
	exit "$code"
}

need_arg() { # need_arg OPTION "$#"
	[[ $2 -ge 2 ]] || die "$EXIT_USAGE" "$1 needs a value (see --help)"
}

port=6379
data_dir=""
log_dir=""
password_file=""
foreground=0
timeout_secs=10

while [[ $# -gt 0 ]]; do
	case $1 in
	--port) need_arg "$1" "$#"; port=$2; shift 2 ;;
	--port=*) port=${1#*=}; shift ;;
	--dir) need_arg "$1" "$#"; data_dir=$2; shift 2 ;;
	--dir=*) data_dir=${1#*=}; shift ;;
	--log-dir) need_arg "$1" "$#"; log_dir=$2; shift 2 ;;
	--log-dir=*) log_dir=${1#*=}; shift ;;
	--password-file) need_arg "$1" "$#"; password_file=$2; shift 2 ;;
	--password-file=*) password_file=${1#*=}; shift ;;
	--foreground) foreground=1; shift ;;
	--timeout) need_arg "$1" "$#"; timeout_secs=$2; shift 2 ;;
	--timeout=*) timeout_secs=${1#*=}; shift ;;
	-h | --help) usage; exit "$EXIT_OK" ;;
	*) die "$EXIT_USAGE" "unknown argument: $1 (see --help)" ;;
	esac
done

[[ $port =~ ^[0-9]{1,5}$ ]] && ((10#$port >= 1 && 10#$port <= 65535)) ||
	die "$EXIT_USAGE" "--port must be a number from 1 to 65535, got '$port'"
port=$((10#$port))
[[ $timeout_secs =~ ^[0-9]+$ ]] && ((10#$timeout_secs >= 1)) ||
	die "$EXIT_USAGE" "--timeout must be a whole number of seconds >= 1, got '$timeout_secs'"
timeout_secs=$((10#$timeout_secs))

if [[ -z $data_dir || -z $log_dir ]]; then
	if [[ -n ${XDG_STATE_HOME:-} ]]; then
		state_base=$XDG_STATE_HOME/redisclient-redis
	elif [[ -n ${HOME:-} ]]; then
		state_base=$HOME/.local/state/redisclient-redis
	else
		die "$EXIT_USAGE" "HOME is not set: give --dir and --log-dir"
	fi
	[[ -n $data_dir ]] || data_dir=$state_base/data
	[[ -n $log_dir ]] || log_dir=$state_base/log
fi

conf=$script_dir/redis.conf
[[ -r $conf ]] || die "$EXIT_ERROR" "cannot read $conf"
redis_server=${REDIS_SERVER:-redis-server}
command -v "$redis_server" >/dev/null 2>&1 ||
	die "$EXIT_ERROR" "$redis_server not found (install redis-server, or set REDIS_SERVER)"

# --- password ---------------------------------------------------------------
# Read with the read builtin and written with the printf builtin: no child
# process ever sees the password in its arguments.
password=""
if [[ -n $password_file ]]; then
	[[ -f $password_file && -r $password_file ]] ||
		die "$EXIT_ERROR" "cannot read password file $password_file"
	IFS= read -r password <"$password_file" || [[ -n $password ]] ||
		die "$EXIT_ERROR" "password file $password_file is empty"
	password=${password%$'\r'}
	[[ -n $password ]] || die "$EXIT_ERROR" "password file $password_file has an empty first line"
	[[ $password != *[[:cntrl:]]* ]] ||
		die "$EXIT_ERROR" "password in $password_file contains control characters"
	mode=$(stat -c %a -- "$password_file" 2>/dev/null || echo 0)
	if (((8#$mode & 8#077) != 0)); then
		printf '%s: warning: %s is readable by other users (mode %s); consider chmod 600\n' \
			"$prog" "$password_file" "$mode" >&2
	fi
fi

# --- port check -------------------------------------------------------------
# Prints who listens on $1 and succeeds if the port is taken.
port_holder() {
	local p=$1 out procs addrs
	if command -v ss >/dev/null 2>&1 && out=$(ss -Hltnp "sport = :$p" 2>/dev/null); then
		[[ -n $out ]] || return 1
		addrs=$(awk '{print $4}' <<<"$out" | sort -u | paste -sd ' ' -)
		procs=$(grep -oE '"[^"]+",pid=[0-9]+' <<<"$out" |
			sed -E 's/^"([^"]+)",pid=([0-9]+)$/\1 (pid \2)/' | sort -u | paste -sd ',' - |
			sed 's/,/, /g' || true)
		if [[ -z $procs ]]; then
			procs="a process this user cannot identify (try: sudo ss -ltnp 'sport = :$p')"
		fi
		printf '%s, listening on %s' "$procs" "$addrs"
		return 0
	fi
	# No usable ss: if a TCP connect succeeds, something listens.
	local host
	for host in 127.0.0.1 ::1; do
		if (exec 3<>"/dev/tcp/$host/$p") 2>/dev/null; then
			printf 'an unknown process (ss is not available to name it), accepting connections on %s' "$host"
			return 0
		fi
	done
	return 1
}

if holder=$(port_holder "$port"); then
	die "$EXIT_PORT_IN_USE" "port $port is already in use by $holder; not starting." \
		"Stop that process or choose another --port."
fi

# --- directories and local include ------------------------------------------
# Everything created from here on (directories, local.conf, and the server's
# snapshots, AOF and log) is private to this user, like UMask=0077 in the unit.
umask 077
mkdir -p -- "$data_dir" "$log_dir" ||
	die "$EXIT_ERROR" "cannot create $data_dir or $log_dir"
data_dir=$(cd -- "$data_dir" && pwd)
log_dir=$(cd -- "$log_dir" && pwd)

log_file=$log_dir/redis-$port.log
pid_file=$data_dir/redis-$port.pid
local_conf=$data_dir/local.conf

# Regenerated on every start so the server's password always matches the
# options of the last start; mode 0600 from the moment it exists (mktemp).
tmp_conf=$(mktemp -- "$data_dir/.local.conf.XXXXXX")
{
	printf '# Written by %s on every start; edits are overwritten.\n' "$prog"
	if [[ -n $password ]]; then
		escaped=${password//\\/\\\\}
		escaped=${escaped//\"/\\\"}
		printf 'requirepass "%s"\n' "$escaped"
	fi
} >"$tmp_conf"
chmod 600 -- "$tmp_conf"
mv -f -- "$tmp_conf" "$local_conf"

# Redis validates the log file when it finishes reading an include, so
# --logfile must come before --include.
args=("$conf" --port "$port" --dir "$data_dir" --pidfile "$pid_file")
if ((foreground)); then
	printf '%s: redis-server on 127.0.0.1:%s in the foreground; data in %s; logging to this terminal\n' \
		"$prog" "$port" "$data_dir"
	exec "$redis_server" "${args[@]}" --logfile "" --include "$local_conf" --daemonize no
fi

# --- background start -------------------------------------------------------
# Answers 0 once the server accepts commands (authenticating if needed).
# Runs in a subshell so the connection is closed on return.
redis_ready() (
	exec 3<>"/dev/tcp/127.0.0.1/$port" 2>/dev/null || exit 1
	local reply n
	if [[ -n $password ]]; then
		LC_ALL=C
		n=${#password}
		printf '*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n' "$n" "$password" >&3
		IFS= read -r -t 2 reply <&3 || exit 1
		[[ $reply == +OK* ]] || exit 1
	fi
	printf '*1\r\n$4\r\nPING\r\n' >&3
	IFS= read -r -t 2 reply <&3 || exit 1
	[[ $reply == +PONG* ]]
)

rm -f -- "$pid_file"
if ! "$redis_server" "${args[@]}" --logfile "$log_file" --include "$local_conf" --daemonize yes; then
	die "$EXIT_NOT_READY" "redis-server refused to start; see the messages above and $log_file"
fi

deadline=$((SECONDS + timeout_secs))
until redis_ready; do
	if ((SECONDS >= deadline)); then
		if [[ -f $log_file ]]; then
			printf '%s: last lines of %s:\n' "$prog" "$log_file" >&2
			tail -n 20 -- "$log_file" >&2 || true
		fi
		die "$EXIT_NOT_READY" "redis-server did not answer PING on port $port within ${timeout_secs}s" \
			"(it may still be loading data; pid file: $pid_file, log: $log_file)"
	fi
	sleep 0.2
done

pid=$(cat -- "$pid_file" 2>/dev/null || echo "?")
auth="none (loopback only)"
[[ -z $password ]] || auth="required (password from $password_file)"
cat <<EOF
redis-server is running: 127.0.0.1:$port, pid $pid
  config:   $conf + $local_conf
  data:     $data_dir
  logs:     $log_file
  password: $auth
  stop:     kill $pid
EOF
