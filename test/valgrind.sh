#!/usr/bin/env bash
# Memory check of the delivery worker under valgrind (memcheck), across many
# deliveries.  Run as root after make install:
#
#   PG_CONFIG=... bash test/valgrind.sh [N]        (default N = 10000)
#
# Starts a throwaway server with every process under valgrind, delivers N
# messages to a local nginx sink in rounds of N/5, one more round of the
# guide's signed webhook, 200 messages answered with long bodies, 400
# while a session holds the webhook's row, 400 while sessions lock messages
# being sent, and 5 refused after the allowed networks narrow (the kept
# connections shut down), notes the worker's RSS after each round (it must
# level off), then stops the worker with SIGTERM
# so valgrind writes its leak report, and prints the worker's error and leak
# summary.  Exit status 1 when valgrind reports an error or "definitely
# lost" bytes in the worker.
set -euo pipefail
N=${1:-10000}
source "$(dirname "${BASH_SOURCE[0]}")/bench/sink.sh"
sink_setup nextphone-valgrind
cleanup() {
	sink_stop
	echo "valgrind logs kept in $dir"
}
trap cleanup EXIT

# (the rounds' requests get a body back, for the response capture; the last
# round's bodies are longer than nextphone.max_response_size, one of them by
# more than the 1 MB the worker reads and drops)
head -c 300000 /dev/zero | tr '\0' 'm' > "$dir/mid.txt"
head -c 3000000 /dev/zero | tr '\0' 'b' > "$dir/big.txt"
chmod o+r "$dir"/mid.txt "$dir"/big.txt && chmod o+x "$dir"	# (nginx's workers)
sink_nginx "location /r { return 200 \"ok\"; }
		location = /mid { alias $dir/mid.txt; }
		location = /big { alias $dir/big.txt; }"
sink_initdb "nextphone.max_concurrency = 32
autovacuum = off"
# VALGRIND=0: the same rounds without valgrind, to watch the worker's own
# memory (RssAnon, i.e. without shared buffers) level off at full speed.
vg=(valgrind --quiet --trace-children=yes --leak-check=full
	--show-leak-kinds=definite --num-callers=30 --log-file="$dir/vg.%p.log")
[ "${VALGRIND:-1}" = 0 ] && vg=()
# Every server process under valgrind; PostgreSQL's own false positives
# (uninitialised padding written to WAL and such) are left to the report of
# those processes: only the worker's log is judged.
runuser -u postgres -- "${vg[@]}" "$BIN/postgres" -D "$dir/data" >"$dir/server.log" 2>&1 &
psql() { runuser -u postgres -- "$BIN/psql" -h "$dir" -p "$pgport" -X -q -At postgres "$@"; }
for _ in $(seq 1 600); do psql -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
psql -c 'CREATE EXTENSION nextphone'
pid=""
for _ in $(seq 1 120); do
	pid=$(psql -c 'SELECT pid FROM nextphone.worker_status()' || true)
	[ -n "$pid" ] && break
	sleep 1
done
echo "worker pid $pid"

round=$((N / 5))
for r in 1 2 3 4 5; do
	psql -c "INSERT INTO nextphone.outbox (method, url, headers, body)
		SELECT 'POST', 'http://127.0.0.1:$httpport/r$r', '{\"X-Round\": \"$r\"}', '{\"n\":' || g || '}'
		  FROM generate_series(1, $round) g"
	while [ "$(psql -c "SELECT count(*) FROM nextphone.outbox WHERE status <> 'delivered'")" != 0 ]; do
		sleep 1
	done
	echo "round $r: $((r * round)) delivered, worker private memory (RssAnon) $(awk '/RssAnon/ {print $2, $3}' /proc/$pid/status)"
done
# A last round of the guide's webhook: rendered, signed, a secret resolved,
# the webhook's health kept (sink.sh)
WEBHOOK=1 sink_webhook
psql -c "$(WEBHOOK=1 sink_queue_sql "$round")" >/dev/null
while [ "$(psql -c "SELECT count(*) FROM nextphone.outbox WHERE status <> 'delivered'")" != 0 ]; do
	sleep 1
done
echo "round 6 (signed webhook): $((6 * round)) delivered, worker private memory (RssAnon) $(awk '/RssAnon/ {print $2, $3}' /proc/$pid/status)"
# Long bodies: read and dropped past the kept 16 kB (mid), or cut 1 MB past
# it (big), the connection closed
psql -c "INSERT INTO nextphone.outbox (method, url)
	SELECT 'GET', 'http://127.0.0.1:$httpport/' || CASE WHEN g % 2 = 0 THEN 'mid' ELSE 'big' END
	  FROM generate_series(1, 200) g"
while [ "$(psql -c "SELECT count(*) FROM nextphone.outbox WHERE status <> 'delivered'")" != 0 ]; do
	sleep 1
done
echo "round 7 (long bodies): $((6 * round + 200)) delivered, worker private memory (RssAnon) $(awk '/RssAnon/ {print $2, $3}' /proc/$pid/status)"
# A session holds the webhook's row for 4 s while 200 of its messages and
# 200 ad-hoc ones go: the webhook's outcomes wait in memory meanwhile
(psql -c "BEGIN" -c "UPDATE nextphone.webhooks SET description = 'held' WHERE tool_name = 'submitLeadToCRM'" \
	-c "SELECT pg_sleep(4)" -c "COMMIT" >/dev/null) &
holder=$!
sleep 1
psql -c "$(WEBHOOK=1 sink_queue_sql 200)" >/dev/null
psql -c "INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$httpport/r8', '{}' FROM generate_series(1, 200)"
wait "$holder"
while [ "$(psql -c "SELECT count(*) FROM nextphone.outbox WHERE status <> 'delivered'")" != 0 ]; do
	sleep 1
done
echo "round 8 (a webhook held by another session; outcomes left for later $(grep -c 'wait to be recorded' "$dir/server.log" || true) time(s)): $((6 * round + 600)) delivered, worker private memory (RssAnon) $(awk '/RssAnon/ {print $2, $3}' /proc/$pid/status)"

# Sessions lock messages being sent (a second each) while 400 go: their
# outcomes wait in memory until the lock goes.  Then the allowed networks
# narrow: the kept connections to the sink are shut down, and 5 messages
# are refused (dead); then they widen again.
# (one session, connected before the messages are queued: a new backend
# takes seconds to start under valgrind)
waits=$(grep -c 'wait to be recorded' "$dir/server.log" || true)
psql -c "DO \$\$ BEGIN
	PERFORM pg_sleep(2);
	FOR i IN 1..40 LOOP
		PERFORM id FROM nextphone.outbox WHERE status = 'sending' LIMIT 5 FOR UPDATE SKIP LOCKED;
		PERFORM pg_sleep(0.3);
		COMMIT;
	END LOOP; END \$\$" >/dev/null &
locker=$!
sleep 1
psql -c "INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$httpport/r9', '{}' FROM generate_series(1, 400)"
wait "$locker"
while [ "$(psql -c "SELECT count(*) FROM nextphone.outbox WHERE status <> 'delivered'")" != 0 ]; do
	sleep 1
done
echo "round 9 (messages locked by other sessions; outcomes left for later $(( $(grep -c 'wait to be recorded' "$dir/server.log" || true) - waits )) time(s)): $((6 * round + 1000)) delivered, worker private memory (RssAnon) $(awk '/RssAnon/ {print $2, $3}' /proc/$pid/status)"
psql -c "ALTER SYSTEM SET nextphone.allowed_networks = '10.0.0.0/8'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 2
psql -c "INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://localhost:$httpport/r10', '{}' FROM generate_series(1, 5)"
while [ "$(psql -c "SELECT count(*) FROM nextphone.outbox WHERE status = 'dead'")" != 5 ]; do
	sleep 1
done
psql -c "ALTER SYSTEM RESET nextphone.allowed_networks" -c "SELECT pg_reload_conf()" >/dev/null
echo "round 10 (allowed networks narrowed: $(grep -c 'shut down .* kept connection' "$dir/server.log" || true) time(s) kept connections shut down): 5 refused, worker private memory (RssAnon) $(awk '/RssAnon/ {print $2, $3}' /proc/$pid/status)"
psql -c "SELECT status, count(*), sum(attempts) AS attempts FROM nextphone.outbox GROUP BY 1 ORDER BY 1"

[ "${VALGRIND:-1}" = 0 ] && exit 0

# SIGTERM: the worker exits, valgrind writes its report
kill -TERM "$pid"
for _ in $(seq 1 120); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 1
done
log="$dir/vg.$pid.log"
echo "== valgrind report of the worker ($log)"
grep -E "definitely lost" "$log" || true
# Judge what is ours: memory errors anywhere in the worker, and leaks whose
# stack goes through nextphone or libcurl (PostgreSQL's postmaster start-up
# leaves a few constant "definitely lost" blocks of its own).
errors=$(grep -cE "Invalid (read|write)|uninitialised value|Conditional jump|Invalid free" "$log" || true)
ours=$(awk '/definitely lost in loss record/ {rec=1; s=""} rec {s=s $0 "\n"} /^==[0-9]+== $/ {if (rec && s ~ /nextphone\.so|libcurl/) n++; rec=0} END {print n+0}' "$log")
echo "memory errors: $errors; leak records through nextphone or libcurl: $ours"
[ "$errors" = 0 ] && [ "$ours" = 0 ]
