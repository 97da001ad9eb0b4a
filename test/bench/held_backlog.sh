#!/usr/bin/env bash
# What a held backlog costs the other deliveries.  Run as root after make
# install:
#
#   PG_CONFIG=... bash test/bench/held_backlog.sh [HELD] [N]
#
# Queues HELD rows (default 1000000) for a disabled webhook (CIRCUIT=1: for
# a webhook whose circuit is open, its next probe an hour away), then N
# ad-hoc rows (default 2000) for a local nginx sink, and reports the time
# from the commit of the N rows until they are all delivered, and what the
# worker's statements cost meanwhile (pg_stat_statements: calls, time,
# pages touched per call).  Compare with HELD=1.
set -euo pipefail
HELD=${1:-1000000}
N=${2:-2000}
source "$(dirname "${BASH_SOURCE[0]}")/sink.sh"
sink_setup nextphone-held
trap 'sink_stop; rm -rf "$dir"' EXIT

sink_nginx
sink_initdb "shared_buffers = 256MB
max_wal_size = 4GB
shared_preload_libraries = 'nextphone, pg_stat_statements'
pg_stat_statements.track = all"
runuser -u postgres -- "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
psql() { runuser -u postgres -- "$BIN/psql" -h "$dir" -p "$pgport" -X -q -At postgres "$@"; }
psql -c 'CREATE EXTENSION nextphone'
psql -c 'CREATE EXTENSION pg_stat_statements'
if [ "${CIRCUIT:-0}" = 1 ]; then
	held="circuit open"
	psql -c "INSERT INTO nextphone.webhooks (tool_name, url, http_method, circuit_state, next_probe_at)
		VALUES ('held', 'http://127.0.0.1:$httpport/held', 'POST', 'open', now() + interval '1 hour')"
else
	held="disabled"
	psql -c "INSERT INTO nextphone.webhooks (tool_name, url, http_method, enabled)
		VALUES ('held', 'http://127.0.0.1:$httpport/held', 'POST', false)"
fi
psql -c "INSERT INTO nextphone.outbox (webhook_id, webhook, method, url, body)
	SELECT w.id, w.tool_name, 'POST', w.url, '{}' FROM nextphone.webhooks w, generate_series(1, $HELD)"
psql -c 'VACUUM ANALYZE nextphone.outbox'
sleep 1
psql -c 'SELECT pg_stat_statements_reset()' >/dev/null
psql -c "INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$httpport/sink', '{}' FROM generate_series(1, $N)"
start=$(date +%s.%N)
psql -c "DO \$\$ BEGIN
	WHILE EXISTS (SELECT 1 FROM nextphone.outbox WHERE webhook_id IS NULL AND status <> 'delivered') LOOP
		PERFORM pg_sleep(0.01);
		COMMIT;
	END LOOP; END \$\$"
end=$(date +%s.%N)
python3 -c "print(f'$N ad-hoc rows delivered in {$end - $start:.2f} s beside $HELD rows of a $held webhook')"
echo "== the worker's statements: calls, ms, pages per call"
psql -c "SELECT calls, round(total_exec_time), round((shared_blks_hit + shared_blks_read)::numeric / calls),
		left(regexp_replace(query, '\s+', ' ', 'g'), 60)
	FROM pg_stat_statements WHERE query NOT LIKE 'DO %' AND query NOT LIKE '%pg_sleep%'
	  AND query NOT LIKE 'INSERT INTO nextphone.outbox%'
	ORDER BY total_exec_time DESC LIMIT 6"
