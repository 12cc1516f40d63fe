#!/usr/bin/env bash
# run.sh - run the benchmark suite against a throwaway redis-server and write
# RESULTS.md. Run with --help for usage.
set -euo pipefail

PROG=${0##*/}
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

# Top-level benchmarks in the order they run, each with its -benchtime:
# a fixed iteration count for the network benchmarks keeps the whole run
# bounded (about 12 minutes at COUNT=6 on 2 busy cores), time for the CPU-only ones.
BENCHES=(
	"GetString 30000x"
	"SetString 30000x"
	"Prediction 15000x"
	"Concurrency 20000x"
	"Batch 30x"
	"Stampede 300x"
	"PubSub 20000x"
	"StreamAdd 20000x"
	"StreamConsume 30000x"
	"Overhead 500ms"
	"Decode 500ms"
	"PythonCodec 500ms"
	"Telemetry 500ms"
	"HashInput 500ms"
	"NearCache 200000x"
	"NearCacheInvalidation 200x"
)

usage() {
	cat <<EOF
Usage: $PROG [--help]

Starts a throwaway redis-server on a free 127.0.0.1 port
(../scripts/servers.sh), runs the benchmarks of this directory against it
COUNT times, compares the implementations with benchstat and writes
RESULTS.md: the machine, the result tables with ratios to raw go-redis, a
check of the performance targets, and benchstat's own output. The server is
stopped on exit, also on failure or Ctrl-C.

Rounds are interleaved (every benchmark once, then again), so drift in the
machine's load spreads over all implementations alike.

Environment:
  COUNT=n          rounds (default 6; benchstat needs 6 for confidence intervals)
  BENCH=regex      run only the benchmarks matching regex, as go test -bench
                   reads it (e.g. BENCH=GetString or BENCH='Batch/impl=lib')
  BENCHTIME=t      override every benchmark's -benchtime (e.g. 100x)
  OUT=file         where to write the report (default $BENCH_DIR/RESULTS.md)
  KEEP=dir         keep the raw output and CSV files in dir
  NICE=n           run redis-server and the benchmarks at this nice level
                   (e.g. -10 as root, to shield them from other work on a
                   shared machine; default: unchanged)

Examples:
  ./$PROG                                  # the full suite, about 12 minutes
  COUNT=1 BENCHTIME=200x ./$PROG           # a smoke run
  BENCH=HashInput COUNT=3 OUT=/tmp/r.md ./$PROG

Benchmarks: $(for b in "${BENCHES[@]}"; do printf '%s ' "${b%% *}"; done)
EOF
}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

case ${1:-} in
-h | --help)
	usage
	exit 0
	;;
"") ;;
*)
	usage >&2
	exit 2
	;;
esac

COUNT=${COUNT:-6}
[[ $COUNT =~ ^[1-9][0-9]*$ ]] || die "COUNT must be a positive integer, got '$COUNT'"
OUT=${OUT:-$BENCH_DIR/RESULTS.md}
BENCH=${BENCH:-}
BENCHTIME=${BENCHTIME:-}
NICE=${NICE:-}
[[ -z $NICE || $NICE =~ ^-?[0-9]+$ ]] || die "NICE must be an integer, got '$NICE'"

command -v go >/dev/null || die "go is not on PATH"
command -v redis-server >/dev/null || die "redis-server is not on PATH (apt-get install redis-server)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/redisclient-bench.XXXXXX")
SERVERS="$WORK/servers"
cleanup() {
	local rc=$?
	if [[ -d $SERVERS ]]; then
		"$ROOT/scripts/servers.sh" stop "$SERVERS" >/dev/null 2>&1 || log "warning: stopping the server failed"
	fi
	if [[ -n ${KEEP:-} ]]; then
		mkdir -p "$KEEP"
		cp "$WORK"/*.txt "$WORK"/*.csv "$KEEP"/ 2>/dev/null || true
		log "raw output kept in $KEEP"
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$BENCH_DIR"

# The benchmarks to run: "name benchtime regex" for each selected one.
# BENCH's first path element selects top-level benchmarks, the rest is
# passed on for the sub-benchmarks.
selected=()
first=${BENCH%%/*}
rest=
[[ $BENCH == */* ]] && rest=/${BENCH#*/}
for entry in "${BENCHES[@]}"; do
	name=${entry%% *}
	bt=${BENCHTIME:-${entry#* }}
	if [[ -n $BENCH && ! Benchmark$name =~ $first ]]; then
		continue
	fi
	selected+=("$name $bt ^Benchmark$name\$$rest")
done
((${#selected[@]})) || die "BENCH='$BENCH' matches no benchmark"

log "building the benchmark binary"
go test -c -o "$WORK/bench.test" . || die "build failed"
go build -o "$WORK/report" ./cmd/report || die "build of cmd/report failed"
go tool -n benchstat >/dev/null || die "benchstat is not available: go get -tool golang.org/x/perf/cmd/benchstat"
BENCHSTAT=$(go tool -n benchstat)

log "starting redis-server"
"$ROOT/scripts/servers.sh" start "$SERVERS" standalone >/dev/null || die "could not start redis-server"
# shellcheck source=/dev/null
. "$SERVERS/env"
export REDISCLIENT_TEST_URL
run_nice=()
if [[ -n $NICE ]]; then
	renice -n "$NICE" -p "$(cat "$SERVERS/standalone/redis.pid")" >/dev/null || die "renice of redis-server to $NICE failed"
	run_nice=(nice -n "$NICE")
fi

START_DATE=$(date -u '+%Y-%m-%d %H:%M:%S UTC')
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
started=$SECONDS
RAW="$WORK/raw.txt"
: >"$RAW"
FAILS="$WORK/failures.txt"
: >"$FAILS"
for ((round = 1; round <= COUNT; round++)); do
	for s in "${selected[@]}"; do
		read -r name bt regex <<<"$s"
		t0=$SECONDS
		rc=0
		"${run_nice[@]}" "$WORK/bench.test" -test.run '^$' -test.bench "$regex" -test.benchtime "$bt" \
			-test.count 1 -test.benchmem -test.timeout 30m >"$WORK/out.txt" 2>&1 || rc=$?
		log "round $round/$COUNT: $name (-benchtime=$bt) took $((SECONDS - t0))s"
		if ((rc != 0)) || ! grep -q '^Benchmark.*ns/op' "$WORK/out.txt"; then
			# Keep the results that did come out; report the failure.
			cat "$WORK/out.txt" >&2
			log "warning: round $round of $name failed (exit $rc); continuing"
			{
				echo "round $round, $name (exit $rc):"
				grep -v '^Benchmark.*ns/op' "$WORK/out.txt" | grep -v -e '^goos:' -e '^goarch:' -e '^pkg:' -e '^cpu:' || true
				echo
			} >>"$FAILS"
		fi
		grep -e '^Benchmark.*ns/op' -e '^goos:' -e '^goarch:' -e '^pkg:' -e '^cpu:' "$WORK/out.txt" >>"$RAW" || true
	done
done
elapsed=$((SECONDS - started))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)

log "comparing with benchstat"
csvs=()
for s in "${selected[@]}"; do
	read -r name _ <<<"$s"
	grep -q "^Benchmark$name[/-]" "$RAW" || continue
	"$BENCHSTAT" -format csv -col /impl -filter ".name:$name" "$RAW" >"$WORK/$name.csv" 2>/dev/null
	"$BENCHSTAT" -col /impl -filter ".name:$name" "$RAW" >"$WORK/$name.txt"
	csvs+=("$WORK/$name.csv")
done

lib=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- . ':!bench' 2>/dev/null) ]]; then
	lib+=" with uncommitted changes"
fi
((${#csvs[@]})) || die "no benchmark produced a result"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)
{
	echo "# Benchmark results"
	echo
	echo "Written by \`bench/run.sh\` ($(basename "$OUT") is regenerated by every run; see README.md for what each benchmark measures)."
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| date | $START_DATE |"
	echo "| CPU | ${cpu:-unknown} |"
	echo "| cores | $(nproc) (GOMAXPROCS $(nproc)) |"
	echo "| kernel | $(uname -sr) |"
	echo "| Go | $(go env GOVERSION) $(go env GOOS)/$(go env GOARCH) |"
	echo "| redis-server | $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), on 127.0.0.1, no persistence |"
	echo "| library | $lib |"
	echo "| load average (1/5/15 min) | before $LOAD_BEFORE, after $LOAD_AFTER${NICE:+ (benchmarks and server at nice $NICE)} |"
	echo "| run | COUNT=$COUNT interleaved rounds, -benchmem, ${elapsed}s; ${BENCH:+BENCH=$BENCH; }${BENCHTIME:+BENCHTIME=$BENCHTIME; }benchtime per benchmark: $(for s in "${selected[@]}"; do read -r n b _ <<<"$s"; printf '%s %s, ' "$n" "$b"; done | sed 's/, $//') |"
	echo
	echo "Times are benchstat medians with their 95% confidence interval; a ratio marked"
	echo "~ is a difference benchstat does not find significant (p ≥ 0.05)."
	echo "\`conc=seq\` is one goroutine, \`p8\`/\`p64\` are 8/64 goroutines in RunParallel;"
	echo "time/op under RunParallel is wall time divided by operations, so it is the"
	echo "inverse of throughput, not the latency of one call. \`cpu/op\` is the client"
	echo "process's CPU time per op. \`Overhead\` runs the Get, Set and prediction"
	echo "operations with the network cut out (a stub go-redis hook answers), so its"
	echo "ratios compare the clients' own CPU cost, not the time of a call."
	if [[ -f $WORK/Concurrency.csv ]]; then
		echo "\`Concurrency\` runs GET and SET at 1 to 128 goroutines (\`g=N\`); its chart is"
		echo "[concurrency.svg](concurrency.svg)."
	fi
	echo
	chart=()
	if [[ -f $WORK/Concurrency.csv ]]; then
		# The chart goes next to the report, linked from README.md.
		chart=(-svg "$(dirname "$OUT")/concurrency.svg")
	fi
	"$WORK/report" -raw "$RAW" "${chart[@]}" "${csvs[@]}"
	if [[ -s $FAILS ]]; then
		echo
		echo "## Failed runs"
		echo
		echo "These runs failed; the tables above use the runs that completed."
		echo
		echo '```'
		cat "$FAILS"
		echo '```'
	fi
	echo
	echo "## benchstat output"
	for s in "${selected[@]}"; do
		read -r name _ <<<"$s"
		[[ -f $WORK/$name.txt ]] || continue
		echo
		echo "### $name"
		echo
		echo '```'
		cat "$WORK/$name.txt"
		echo '```'
	done
} >"$WORK/results.md"
mv "$WORK/results.md" "$OUT"
log "wrote $OUT in ${elapsed}s of benchmarking"
if [[ -s $FAILS ]]; then
	die "some runs failed; see \"Failed runs\" in $OUT"
fi
