#!/usr/bin/env bash
# The delivery worker's cost in instructions, which unlike seconds do not
# depend on what else the machine is doing.  Run as root after make install:
#
#   PG_CONFIG=... bash test/bench/instructions.sh [N] [MAX_CONCURRENCY]
#
# Starts a throwaway server with every process under callgrind (valgrind),
# queues N rows (default 5000) in one transaction for a local nginx sink,
# waits until all are delivered, stops the worker, and prints the worker's
# instructions per delivery (its start-up included, which is small beside N
# deliveries), the same for its main steps, and the
# functions that spend them (inclusive, then exclusive).  Compare two builds
# by running this with each: the same N and MAX_CONCURRENCY give the same
# work, but the batching follows the timing, so expect a few percent of
# variation between runs of one build.  SETUP_SQL runs statements after
# CREATE EXTENSION (experiments: an index dropped, say), and SETUP_CONF is
# added to postgresql.conf.  WEBHOOK=1 queues
# the guide's webhook instead of ad-hoc rows (sink.sh).
set -euo pipefail
N=${1:-5000}
CONC=${2:-64}
source "$(dirname "${BASH_SOURCE[0]}")/sink.sh"
sink_setup nextphone-instructions
cleanup() {
	sink_stop
	sleep 1
	[ -n "${KEEP:-}" ] && cp "$dir"/cg.*.out* "$KEEP" 2>/dev/null	# KEEP=dir: keep callgrind's files
	rm -rf "$dir" || true
}
trap cleanup EXIT

sink_nginx
sink_initdb "shared_buffers = 256MB
nextphone.max_concurrency = $CONC
autovacuum = off"
[ -n "${SETUP_CONF:-}" ] && echo "$SETUP_CONF" >> "$dir/data/postgresql.conf"	# experiments
runuser -u postgres -- valgrind --tool=callgrind --trace-children=yes \
	--callgrind-out-file="$dir/cg.%p.out" "$BIN/postgres" -D "$dir/data" \
	>"$dir/server.log" 2>&1 &
psql() { runuser -u postgres -- "$BIN/psql" -h "$dir" -p "$pgport" -X -q -At postgres "$@"; }
for _ in $(seq 1 600); do psql -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
psql -c 'CREATE EXTENSION nextphone'
# SETUP_SQL: statements to run before the deliveries (experiments)
[ -n "${SETUP_SQL:-}" ] && psql -c "$SETUP_SQL"
pid=""
for _ in $(seq 1 120); do
	pid=$(psql -c "SELECT pid FROM nextphone.worker_status() WHERE state <> 'starting'" || true)
	[ -n "$pid" ] && break
	sleep 1
done
sleep 2
# (counters are not zeroed: callgrind_control cannot reach a process of
# another user here; the start-up is small beside N deliveries)
sink_webhook
psql -c "$(sink_queue_sql "$N")" >/dev/null
while [ "$(psql -c "SELECT count(*) FROM nextphone.outbox WHERE status IN ('pending', 'sending')")" != 0 ]; do
	sleep 1
done
kill -TERM "$pid"
for _ in $(seq 1 120); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 1
done
out=$(ls "$dir"/cg."$pid".out* | tail -1)
# the worker's main function, inclusive: everything it did
callgrind_annotate --inclusive=yes "$out" > "$dir/inclusive.txt" 2>/dev/null
callgrind_annotate "$out" > "$dir/exclusive.txt" 2>/dev/null
of() {	# instructions of a function, inclusive
	awk -v f="$1" 'index($0, ":" f " [") && !n {gsub(",", "", $1); n = $1} END {printf "%.0f\n", n}' "$dir/inclusive.txt"
}
total=$(of NextphoneWorkerMain)
echo "== worker: $total instructions for $N deliveries: $((total / N)) a delivery"
for f in QueueRecord QueueClaim HttpWait HttpStart; do
	echo "   $f: $(( $(of $f) / N )) a delivery"
done
echo "== inclusive"
grep -E "^ *[0-9,]+ " "$dir/inclusive.txt" | head -40
echo "== exclusive"
grep -E "^ *[0-9,]+ " "$dir/exclusive.txt" | head -25
