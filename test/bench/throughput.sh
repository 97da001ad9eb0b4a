#!/usr/bin/env bash
# Delivery throughput, latency and worker cost against a local keep-alive
# HTTP sink (nginx, "return 200").  Run as root after make install:
#
#   PG_CONFIG=... bash test/bench/throughput.sh [N] [MAX_CONCURRENCY] [WORKERS]
#
# Queues N rows (default 50000) in one transaction and reports the time until
# all are delivered, from the start of that transaction and from its commit
# (the workers see nothing before), the rate, the workers' CPU seconds and
# peak RSS, and where the machine's CPU went; then,
# with LATENCY=1 (default), 200 single enqueues one by one, reporting the
# commit -> receiver latency p50/p99 (nginx's log has microsecond times).
#
# TABLE=1 runs the table of the issue instead: max_concurrency 8, 64 and 256
# with 1 and 2 workers (each on a fresh server, no latency part), then the
# latency part once with the given settings, and prints a summary.  WRK=1
# (on in the table) also measures the ceiling: wrk against the same nginx.
#
# For profiling: PERF=file records a perf profile of the workers during the
# throughput part (PERF_OPTS, default -g, are perf record's options), and
# PGSS=1 preloads pg_stat_statements and prints the workers' statements.
# SETUP_SQL runs the statements it holds after CREATE EXTENSION, and SETUP_CONF
# is added to postgresql.conf (experiments).
#
# WEBHOOK=1 queues the guide's webhook instead of ad-hoc rows (sink.sh).
# The transactions and WAL bytes of the throughput part are always printed.
set -euo pipefail
if [ "${TABLE:-0}" = 1 ]; then
	self=$(readlink -f "$0")
	summary=$(mktemp)
	for w in 1 2; do
		for c in 8 64 256; do
			out=$(TABLE=0 LATENCY=0 bash "$self" "${1:-50000}" "$c" "$w")
			echo "$out"
			rate=$(sed -n 's/.*: \([0-9]*\) deliveries\/s, .*/\1/p' <<<"$out")
			drain=$(sed -n 's/.*after the commit: \([0-9]*\)\/s.*/\1/p' <<<"$out")
			cpu=$(sed -n 's/worker CPU: \(.*\) s/\1/p' <<<"$out")
			rss=$(sed -n 's/.*peak RSS: \([0-9]*\) kB.*/\1/p' <<<"$out" | sort -n | tail -1)
			printf '%-8s %-8s %12s %14s %14s %16s\n' "$c" "$w" "$rate" "$drain" "$cpu" "$rss" >> "$summary"
		done
	done
	TABLE=0 WRK=1 bash "$self" "${1:-50000}" "${2:-64}" "${3:-1}" | grep -A1 -E '== (latency|wrk)'
	echo "== summary: ${1:-50000} rows"
	printf '%-8s %-8s %12s %14s %14s %16s\n' conc workers deliveries/s "after commit" "worker CPU s" "peak RSS kB"
	cat "$summary"
	rm -f "$summary"
	exit 0
fi
N=${1:-50000}
CONC=${2:-64}
WORKERS=${3:-1}
LATENCY=${LATENCY:-1}
source "$(dirname "${BASH_SOURCE[0]}")/sink.sh"
sink_setup nextphone-bench
cleanup() {
	sink_stop
	[ -n "${KEEP_LOG:-}" ] && cp "$dir/server.log" "$KEEP_LOG"
	rm -rf "$dir"
}
trap cleanup EXIT

# nginx: the sink; under /latency it logs each request's arrival (msec) and id
sink_nginx "location /latency { access_log $dir/nginx/arrive.log arrive; return 200; }"
sink_initdb "shared_buffers = 256MB
max_wal_size = 4GB
nextphone.max_concurrency = $CONC
nextphone.workers = $WORKERS"
[ -n "${SETUP_CONF:-}" ] && echo "$SETUP_CONF" >> "$dir/data/postgresql.conf"	# experiments
if [ -n "${PGSS:-}" ]; then	# PGSS=1: report the workers' statements (pg_stat_statements)
	cat >> "$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'nextphone,pg_stat_statements'
pg_stat_statements.track = all
CONF
fi
runuser -u postgres -- "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
psql() { runuser -u postgres -- "$BIN/psql" -h "$dir" -p "$pgport" -X -q -At postgres "$@"; }
psql -c 'CREATE EXTENSION nextphone'
[ -n "${PGSS:-}" ] && psql -c 'CREATE EXTENSION pg_stat_statements'
# SETUP_SQL: statements to run before the throughput part (experiments)
[ -n "${SETUP_SQL:-}" ] && psql -c "$SETUP_SQL"
sleep 1
pids=$(psql -c "SELECT string_agg(pid::text, ' ') FROM nextphone.worker_status()")

cpu_of() {	# utime + stime of the workers, in clock ticks
	local t=0 p
	for p in $pids; do
		t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat)))
	done
	echo $t
}

# Where the machine's CPU goes, in clock ticks: the workers, nginx, the other
# server processes (exited ones, such as autovacuum workers, through the
# postmaster's cutime/cstime), and the whole machine, busy and in all.
pm=$(head -1 "$dir/data/postmaster.pid")
ngx=$(cat "$dir/nginx.pid")
machine_cpu() {
	python3 - "$pm" "$ngx" "$pids" <<'PY'
import os, sys
pm, ngx, workers = int(sys.argv[1]), int(sys.argv[2]), set(map(int, sys.argv[3].split()))
def stat(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except FileNotFoundError:	# it just ended (and counts in its parent's)
        return 0, 0
    return int(f[11]) + int(f[12]), int(f[13]) + int(f[14])	# own, waited-for children
def children(pid):
    out = []
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            out += map(int, open(f"/proc/{pid}/task/{t}/children").read().split())
        except FileNotFoundError:
            pass
    return out
w = sum(stat(p)[0] for p in workers)
n = sum(stat(p)[0] for p in [ngx] + children(ngx))
own, gone = stat(pm)
o = own + gone + sum(stat(p)[0] for p in children(pm) if p not in workers)
cpu = list(map(int, open("/proc/stat").readline().split()[1:]))
print(w, n, o, sum(cpu) - cpu[3] - cpu[4], sum(cpu))
PY
}

sink_webhook
echo "== throughput: $N rows, max_concurrency $CONC, workers $WORKERS"
cpu0=$(cpu_of)
mcpu0=$(machine_cpu)
stats() { psql -c "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres') || ' ' || pg_current_wal_lsn()"; }
stats0=$(stats)
if [ -n "${PERF:-}" ]; then	# PERF=file: a perf profile of the workers
	perf record ${PERF_OPTS:--g} -o "$PERF" -p "$(echo $pids | tr ' ' ,)" >/dev/null 2>&1 &
	perfpid=$!
	sleep 0.5
fi
start=$(date +%s.%N)
psql -c "$(sink_queue_sql "$N")" >/dev/null
queued=$(date +%s.%N)
# Wait on the workers' counters in one session (a loop of psql processes
# would take CPU from the workers), then make sure no row is left queued.
# The loop commits every round: a transaction held open for the whole run
# would keep every delivered row's old versions alive (and in the claim's way).
psql -c "DO \$\$ BEGIN
	WHILE (SELECT sum(delivered) FROM nextphone.worker_status()) < $N LOOP
		PERFORM pg_sleep(0.01);
		COMMIT;
	END LOOP; END \$\$"
while [ "$(psql -c "SELECT EXISTS (SELECT 1 FROM nextphone.outbox WHERE status IN ('pending', 'sending'))")" != f ]; do
	sleep 0.05
done
end=$(date +%s.%N)
cpu1=$(cpu_of)
mcpu1=$(machine_cpu)
stats1=$(stats)
if [ -n "${PERF:-}" ]; then
	kill -INT "$perfpid"
	wait "$perfpid" || true
fi
tick=$(getconf CLK_TCK)
python3 - "$start" "$end" "$N" "$cpu0" "$cpu1" "$tick" "$queued" "$mcpu0" "$mcpu1" <<'PY'
import sys
s, e, n, c0, c1, tick, q = map(float, sys.argv[1:8])
m0, m1 = (list(map(int, a.split())) for a in sys.argv[8:10])
d = [(b - a) / tick for a, b in zip(m0, m1)]
print(f"delivered {int(n)} in {e - s:.2f} s: {n / (e - s):.0f} deliveries/s, "
      f"from the start of the queueing transaction ({q - s:.2f} s to commit;"
      f" after the commit: {n / (e - q):.0f}/s)")
print(f"worker CPU: {(c1 - c0) / tick:.2f} s")
print(f"machine CPU: {d[3]:.2f} of {d[4]:.2f} s busy: workers {d[0]:.2f}, nginx {d[1]:.2f},"
      f" other server processes {d[2]:.2f}, the rest (kernel work for no process, this script) {d[3] - sum(d[:3]):.2f}")
PY
read -r x0 l0 <<<"$stats0"
read -r x1 l1 <<<"$stats1"
psql -c "SELECT 'transactions: ' || ($x1 - $x0) || ', WAL: ' || pg_size_pretty(pg_wal_lsn_diff('$l1', '$l0'))
	|| ' (' || round(pg_wal_lsn_diff('$l1', '$l0') / $N) || ' bytes a delivery)'"
# how many of the outbox's updates were HOT (no new index entries)
sleep 2.5	# (an idle worker sends its table statistics within two seconds)
psql -c "SELECT 'outbox updates: ' || n_tup_upd || ', HOT: ' || n_tup_hot_upd
	FROM pg_stat_user_tables WHERE relid = 'nextphone.outbox'::regclass"
if [ -n "${PGSS:-}" ]; then
	psql -c "SELECT calls, rows, round(total_exec_time) || ' ms', round(total_exec_time / $N * 1000) || ' us a delivery',
		shared_blks_hit + shared_blks_read, left(regexp_replace(query, '\s+', ' ', 'g'), 60)
		FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12"
fi
for p in $pids; do
	echo "worker $p peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$p/status)" \
		"(shared buffers included; private memory now: $(awk '/RssAnon/ {print $2, $3}' /proc/$p/status))"
done

# WRK=1: the ceiling, wrk against the same nginx (64 connections, 5 s)
if [ "${WRK:-0}" = 1 ]; then
	echo "== wrk: $(wrk -t1 -c64 -d5s "http://127.0.0.1:$httpport/sink" | sed -n 's/Requests\/sec: *//p') requests/s"
fi

if [ "$LATENCY" = 1 ]; then
	echo "== latency: 200 single enqueues, commit -> nginx"
	psql -c "TRUNCATE nextphone.outbox CASCADE"
	: > "$dir/commits"
	for i in $(seq 1 200); do
		psql -c "INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', 'http://127.0.0.1:$httpport/latency', '{}') RETURNING msg_id, extract(epoch FROM clock_timestamp())" >> "$dir/commits"
		sleep 0.02
	done
	sleep 1
	python3 - "$dir/commits" "$dir/nginx/arrive.log" <<'PY'
import sys
# the RETURNING time is taken just before the commit: an upper bound on
# the latency by the commit's own duration (synchronous_commit on: an fsync)
commits = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line:
        m, t = line.split("|")
        commits[m] = float(t)
lat = []
for line in open(sys.argv[2]):
    t, m = line.split()
    if m in commits:
        lat.append((float(t) - commits[m]) * 1000)
lat.sort()
def pct(p):
    return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]
print(f"{len(lat)} requests: p50 {pct(50):.2f} ms, p99 {pct(99):.2f} ms, max {lat[-1]:.2f} ms")
PY
fi
