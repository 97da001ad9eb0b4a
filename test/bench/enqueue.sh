#!/usr/bin/env bash
# Benchmark: the cost of rendering on insert.
#
# pgbench inserts leads into one throwaway cluster, in the same run:
#   "webhook":    leads of a business with one webhook subscribed to
#                 lead.created, using the guide's body template, so each
#                 insert also renders and queues one delivery;
#   "no webhook": leads of a business with no webhook (the same triggers
#                 run and find nothing to do).
# It prints the TPS of each and their ratio (goal: at least 0.7), and the
# cluster's CPU time per insert of each: on a busy machine the TPS of rounds
# vary, the CPU cost much less.
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

dir=$(mktemp -d "${TMPDIR:-/tmp}/enqueue-bench.XXXXXX")
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

# CPU time (clock ticks) used so far by the whole cluster: the postmaster's
# reaped children (backends that ended) plus every process still running.
cluster_ticks() {
	local pm total=0 pid
	pm=$(head -1 "$dir/data/postmaster.pid")
	total=$(awk '{print $16 + $17}' "/proc/$pm/stat")
	for pid in $(ps --ppid "$pm" -o pid=); do
		[ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	echo "$total"
}

# One round, on empty tables after a checkpoint: prints its TPS and the
# cluster's CPU microseconds per insert.
run() {
	local before after out tps n
	psql -c "TRUNCATE nextphone.attempts, nextphone.outbox, nextphone.leads" -c "CHECKPOINT"
	before=$(cluster_ticks)
	out=$(as_pg "$bin/pgbench" -h "$dir" -n -c "$clients" -j "$clients" -T "$seconds" \
		-f "$dir/leads_$1.sql" bench 2>/dev/null)
	sleep 1		# let the backends exit
	after=$(cluster_ticks)
	tps=$(awk '/^tps = /{printf "%.0f", $3}' <<<"$out")
	n=$(awk '/actually processed/{print $NF}' <<<"$out")
	awk -v t="$tps" -v d="$((after - before))" -v n="$n" -v hz="$(getconf CLK_TCK)" \
		'BEGIN {printf "%s %.0f\n", t, d * 1e6 / hz / n}'
}

# Warm up, then alternate the two cases; the median round of each counts.
run 1 >/dev/null
tps_hook=(); tps_none=(); cpu_hook=(); cpu_none=()
for ((round = 1; round <= rounds; round++)); do
	read -r t c <<<"$(run 2)"; tps_none+=("$t"); cpu_none+=("$c")
	read -r t c <<<"$(run 1)"; tps_hook+=("$t"); cpu_hook+=("$c")
done
queued=$(psql -At -c "SELECT count(*) FROM nextphone.outbox WHERE status = 'pending'")
dead=$(psql -At -c "SELECT count(*) FROM nextphone.outbox WHERE status = 'dead'")

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
hook=$(median "${tps_hook[@]}"); none=$(median "${tps_none[@]}")
hook_cpu=$(median "${cpu_hook[@]}"); none_cpu=$(median "${cpu_none[@]}")
echo "pgbench: $clients clients, $rounds rounds of $seconds s per case, synchronous_commit off"
echo "no webhook:  $none tps, $none_cpu us of CPU per insert (medians; tps rounds: ${tps_none[*]})"
echo "one webhook: $hook tps, $hook_cpu us of CPU per insert (medians; tps rounds: ${tps_hook[*]})"
awk -v h="$hook" -v n="$none" -v hc="$hook_cpu" -v nc="$none_cpu" 'BEGIN {
	printf "ratio: %.2f by TPS, %.2f by CPU per insert (goal >= 0.70)\n", h / n, nc / hc }'
echo "outbox after the last round: $queued pending, $dead dead"
