#!/usr/bin/env bash
# Benchmark: the cost of rendering on insert.
#
# pgbench inserts leads into one throwaway cluster, in the same run:
#   "webhook":    leads of a business with one webhook subscribed to
#                 lead.created, using the guide's body template, so each
#                 insert also renders and queues one delivery;
#   "no webhook": leads of a business with no webhook (the same triggers
#                 run and find nothing to do).
# It prints the TPS of each and their ratio (goal: at least 0.7).
#
#   bash test/bench/enqueue.sh [seconds per round] [clients] [rounds]
#
# Run as root (the cluster runs as postgres), after make install.  Set
# PG_CONFIG for a private PostgreSQL installation.  synchronous_commit is
# off, so that the figures show the CPU cost of the insert path rather than
# the disk's flush time.
set -euo pipefail

seconds=${1:-15}
clients=${2:-2}
rounds=${3:-3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
shared=${NEXTPHONE_SHARED:-$(cd "$root/../shared" && pwd)}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bin=$("$PG_CONFIG" --bindir)

dir=$(mktemp -d /tmp/nextphone-bench.XXXXXX)
chown postgres "$dir"
trap 'runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

as_pg() { runuser -u postgres -- "$@"; }
as_pg "$bin/initdb" -D "$dir/data" -A trust >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'nextphone'
synchronous_commit = off
shared_buffers = 256MB
max_wal_size = 4GB
CONF
as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
psql() { as_pg "$bin/psql" -h "$dir" -d bench -X -q -v ON_ERROR_STOP=1 "$@"; }
as_pg "$bin/createdb" -h "$dir" bench

# The guide's webhook configuration, as printed, subscribed to lead.created
# for business 1 only.
config=$(awk '/^### NextPhone Webhook Configuration/{f=1} f&&/^\140\140\140json/{g=1;next} g&&/^\140\140\140/{exit} g' \
	"$shared/seed/000_369c8c97d32014d2.txt")
psql -v config="$config" <<'SQL'
CREATE EXTENSION nextphone;
INSERT INTO nextphone.businesses (receiving_number, owner_name, website)
VALUES ('+15559876543', 'Acme Contracting', 'https://acmecontracting.com'),
       ('+15559876544', 'Quiet Co', 'https://quiet.example.com');
SELECT nextphone.create_webhook((:'config'::jsonb || '{"events": ["lead.created"]}')::json, 1);
SQL

for biz in 1 2; do
	cat > "$dir/leads_$biz.sql" <<SQL
\set n random(1, 1000000)
INSERT INTO nextphone.leads (business_id, first_name, phone, email, company, notes)
VALUES ($biz, 'John', '+1555' || lpad(:n::text, 7, '0'), 'john' || :n || '@example.com',
        'Smith Roofing', 'Needs roof inspection, mentioned leak in northwest corner');
SQL
done
chown postgres "$dir"/leads_*.sql

run() {
	as_pg "$bin/pgbench" -h "$dir" -n -c "$clients" -j "$clients" -T "$seconds" \
		-f "$dir/leads_$1.sql" bench 2>/dev/null |
		awk '/^tps = /{printf "%.0f\n", $3}'
}

# Warm up, then alternate the two cases; the median round of each counts.
run 1 >/dev/null
tps_hook=()
tps_none=()
for ((round = 1; round <= rounds; round++)); do
	tps_none+=("$(run 2)")
	tps_hook+=("$(run 1)")
done
queued=$(psql -At -c "SELECT count(*) FROM nextphone.outbox WHERE status = 'pending'")
dead=$(psql -At -c "SELECT count(*) FROM nextphone.outbox WHERE status = 'dead'")

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
hook=$(median "${tps_hook[@]}")
none=$(median "${tps_none[@]}")
echo "pgbench: $clients clients, $rounds rounds of $seconds s per case, synchronous_commit off"
echo "no webhook:  $none tps (median; rounds: ${tps_none[*]})"
echo "one webhook: $hook tps (median; rounds: ${tps_hook[*]})"
awk -v h="$hook" -v n="$none" 'BEGIN { printf "ratio: %.2f (goal >= 0.70)\n", h / n }'
echo "outbox: $queued pending, $dead dead"
