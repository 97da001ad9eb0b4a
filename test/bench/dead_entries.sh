#!/usr/bin/env bash
# What the index entries of messages that left the queue cost the claim.
# Run as root after make install:
#
#   PG_CONFIG=... bash test/bench/dead_entries.sh [ROUNDS] [BATCH] [PRELOAD]
#
# A delivered message's last update takes it out of the queue's partial
# indexes (outbox_due, outbox_adhoc_due) by writing a new row version that
# is not in them; the old version's entry stays until VACUUM removes it.
# Those entries sit where every claim starts reading: before the due rows,
# in due order.  A scan marks them dead as it passes, but still steps over
# them, page by page, until VACUUM runs, and autovacuum runs when a fifth of
# the table is dead rows: with seven days of delivered messages kept, that is
# a long time.
#
# Starts a throwaway server (autovacuum on, as by default; SETUP_CONF is
# added to postgresql.conf, SETUP_SQL run after CREATE EXTENSION), puts PRELOAD delivered rows in the outbox
# (default 1,000,000: a table with history), then ROUNDS times (default 10)
# queues BATCH ad-hoc rows (default 20,000), each due at its own time as
# rows queued one by one are, and waits until all are delivered.  After each
# round it prints the round's deliveries/s, the pages the claim's ad-hoc
# index scan reads with nothing to claim, and its time (EXPLAIN ANALYZE),
# and autovacuum's count of runs on the outbox and of its dead rows.
# WEBHOOK=1 queues the guide's webhook instead (sink.sh) and measures that
# webhook's scan of outbox_due, and in a last column the pages of the skip
# scan that finds the webhooks with queued rows.
set -euo pipefail
ROUNDS=${1:-10}
BATCH=${2:-20000}
PRELOAD=${3:-1000000}
source "$(dirname "${BASH_SOURCE[0]}")/sink.sh"
sink_setup nextphone-dead-entries
trap 'sink_stop; rm -rf "$dir"' EXIT
sink_nginx
sink_initdb "shared_buffers = 512MB
max_wal_size = 4GB"
[ -n "${SETUP_CONF:-}" ] && echo "$SETUP_CONF" >> "$dir/data/postgresql.conf"
runuser -u postgres -- "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
psql() { runuser -u postgres -- "$BIN/psql" -h "$dir" -p "$pgport" -X -q -At postgres "$@"; }
psql -c 'CREATE EXTENSION nextphone'
# SETUP_SQL: statements to run first (experiments: ALTER TABLE
# nextphone.outbox RESET (autovacuum_vacuum_scale_factor) for the default)
[ -n "${SETUP_SQL:-}" ] && psql -c "$SETUP_SQL"
if [ "$PRELOAD" -gt 0 ]; then
	psql -c "INSERT INTO nextphone.outbox (method, url, body, status, delivered_at)
		SELECT 'POST', 'http://127.0.0.1:1/old', '{}', 'delivered', now()
		  FROM generate_series(1, $PRELOAD)"
	psql -c 'VACUUM ANALYZE nextphone.outbox'
fi

# the claim's read of the ad-hoc group or of the webhook's (claim_sql in
# src/queue.c), alone; and the first step of its skip scan (ACTIVE_WEBHOOKS)
explain="EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)"
sink_webhook
if [ "${WEBHOOK:-0}" = 1 ]; then
	w=$(psql -c "SELECT id FROM nextphone.webhooks WHERE tool_name = 'submitLeadToCRM'")
	probe_sql="$explain SELECT o.ctid FROM nextphone.outbox o
		 WHERE o.webhook_id = $w AND o.queued AND o.next_attempt_at <= now()
		   AND o.status = 'pending'
		 ORDER BY o.webhook_id, o.next_attempt_at LIMIT 64"
	queue_sql="INSERT INTO nextphone.outbox (webhook, vars, next_attempt_at)
		SELECT 'submitLeadToCRM', jsonb_build_object('first_name', 'John',
		         'caller_number', '+1555' || lpad(g::text, 7, '0'), 'email', 'john' || g || '@example.com',
		         'company_name', 'Smith Roofing', 'message', 'Needs roof inspection'),
		       clock_timestamp()
		  FROM generate_series(1, $BATCH) g"
else
	probe_sql="$explain SELECT o.ctid FROM nextphone.outbox o
		 WHERE o.webhook_id IS NULL AND o.queued AND o.next_attempt_at <= now()
		   AND o.status = 'pending'
		 ORDER BY o.next_attempt_at LIMIT 64"
	queue_sql="INSERT INTO nextphone.outbox (method, url, body, next_attempt_at)
		SELECT 'POST', 'http://127.0.0.1:$httpport/sink', '{\"n\":' || g || '}', clock_timestamp()
		  FROM generate_series(1, $BATCH) g"
fi
skip_sql="$explain SELECT o.webhook_id FROM nextphone.outbox o
	 WHERE o.queued AND o.webhook_id IS NOT NULL ORDER BY o.webhook_id LIMIT 1"
pages() { sed -n 's/^ *Buffers: shared hit=\([0-9]*\).*/\1/p' | head -1; }
echo "rows in the outbox before: $PRELOAD delivered"
printf '%-10s %14s %12s %12s %9s %10s %11s\n' delivered deliveries/s claim-pages claim-ms vacuums dead-rows skip-pages
for r in $(seq 1 "$ROUNDS"); do
	t0=$(date +%s.%N)
	psql -c "$queue_sql" >/dev/null
	while [ "$(psql -c "SELECT count(*) FROM nextphone.outbox WHERE queued")" != 0 ]; do
		sleep 0.2
	done
	rate=$(echo "$BATCH / ($(date +%s.%N) - $t0)" | bc)
	plan=$(psql -c "$probe_sql")
	pages=$(pages <<<"$plan")
	ms=$(sed -n 's/Execution Time: \(.*\) ms/\1/p' <<<"$plan")
	stats=$(psql -F ' ' -c "SELECT autovacuum_count, n_dead_tup FROM pg_stat_user_tables
		WHERE relid = 'nextphone.outbox'::regclass")
	skip=$(psql -c "$skip_sql" | pages)
	printf '%-10s %14s %12s %12s %9s %10s %11s\n' $((r * BATCH)) "$rate" "$pages" "$ms" $stats "$skip"
done
