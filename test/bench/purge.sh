#!/usr/bin/env bash
# The worker's purge step on a large outbox.  Run as root after make install:
#
#   PG_CONFIG=... bash test/bench/purge.sh [ROWS] [DEAD]
#
# Fills the outbox of a throwaway server with ROWS delivered rows (default
# 500000, about 1 GB) and their attempts, and DEAD dead rows (default 0), all
# of a day ago, then restarts the server twice and reports the purge its
# worker runs as it starts, as pg_stat_statements saw it:
#   - kept:   every row delivered a day ago, retention 7 days: nothing to
#             delete, the case of every minute;
#   - purged: the same rows with a retention of 1 hour: a full batch of
#             10,000 rows (and their attempts) deleted.
set -euo pipefail
ROWS=${1:-500000}
DEAD=${2:-0}
source "$(dirname "${BASH_SOURCE[0]}")/sink.sh"
sink_setup nextphone-purge
trap 'sink_stop; rm -rf "$dir"' EXIT
sink_initdb "shared_buffers = 256MB
max_wal_size = 4GB
shared_preload_libraries = 'nextphone,pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.save = off"
pgctl() { runuser -u postgres -- "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w "$@" >/dev/null; }
psql() { runuser -u postgres -- "$BIN/psql" -h "$dir" -p "$pgport" -X -q -At postgres "$@"; }
pgctl start
psql -c 'CREATE EXTENSION nextphone' -c 'CREATE EXTENSION pg_stat_statements'
echo "== $ROWS delivered rows and $DEAD dead ones, of a day ago"
psql -c "INSERT INTO nextphone.outbox (method, url, body, status, attempts, next_attempt_at, delivered_at, created_at)
	SELECT 'POST', 'http://127.0.0.1:9/sink', repeat('x', 800), 'delivered', 1, t, t, t
	  FROM (SELECT now() - interval '1 day' + g * interval '1 ms' AS t FROM generate_series(1, $ROWS) g) s" \
	-c "INSERT INTO nextphone.outbox (method, url, body, status, attempts, next_attempt_at, created_at)
	SELECT 'POST', 'http://127.0.0.1:9/sink', repeat('x', 800), 'dead', 8, t, t
	  FROM (SELECT now() - interval '1 day' + g * interval '1 ms' AS t FROM generate_series(1, $DEAD) g) s" \
	-c "INSERT INTO nextphone.attempts (outbox_id, attempt, started_at, duration_ms, status_code)
	SELECT id, 1, next_attempt_at, 1, 200 FROM nextphone.outbox" \
	-c 'VACUUM ANALYZE nextphone.outbox' -c 'VACUUM ANALYZE nextphone.attempts' \
	-c "SELECT 'outbox: ' || pg_size_pretty(pg_table_size('nextphone.outbox'))"
pgctl stop
run() {	# $1: label, $2: retention
	sed -i '/^nextphone.retention/d' "$dir/data/postgresql.conf"
	echo "nextphone.retention = $2" >> "$dir/data/postgresql.conf"
	pgctl start	# (pg_stat_statements starts empty: save = off)
	# the worker purges as it starts, then every minute
	for _ in $(seq 1 600); do
		n=$(psql -c "SELECT count(*) FROM pg_stat_statements WHERE query LIKE 'WITH old AS%'")
		[ "$n" != 0 ] && break
		sleep 0.1
	done
	[ "$n" != 0 ] || { echo "$1: the worker ran no purge" >&2; exit 1; }
	psql -c "SELECT '$1 (retention $2): ' || round(total_exec_time::numeric, 1) || ' ms, '
		|| rows || ' rows deleted, ' || shared_blks_hit + shared_blks_read || ' pages read'
		FROM pg_stat_statements WHERE query LIKE 'WITH old AS%'"
	pgctl stop
}
run kept '7d'
run purged '1h'
