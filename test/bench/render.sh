#!/usr/bin/env bash
# Benchmark of nextphone.render_json against jsonb_build_object and a naive
# PL/pgSQL substitution loop (see render.sql), on a throwaway cluster run as
# the postgres user in a temporary directory, removed afterwards.
#
#   PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config bash test/bench/render.sh [rows] [reps]
#
# The extension must be built and installed into that PostgreSQL first
# (make && make install).  Run as root (or as postgres).
set -euo pipefail
rows=${1:-200000}
reps=${2:-5}
PG_CONFIG=${PG_CONFIG:-pg_config}
bindir=$("$PG_CONFIG" --bindir)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d /tmp/nextphone-bench.XXXXXX)
as_pg=()
[ "$(id -u)" -eq 0 ] && { chown postgres "$tmp"; as_pg=(runuser -u postgres --); }
cleanup() {
	"${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
cp "$here/render.sql" "$tmp/"
"${as_pg[@]}" "$bindir/initdb" -D "$tmp/data" -A trust >/dev/null
"${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/log" -w \
	-o "-c listen_addresses='' -k $tmp -c shared_buffers=256MB -c jit=off" start >/dev/null
echo "== render_json vs jsonb_build_object vs PL/pgSQL replace(): $rows rows, best of $reps"
"${as_pg[@]}" "$bindir/psql" -X -q -h "$tmp" -d postgres -v rows="$rows" -v reps="$reps" -f "$tmp/render.sql"
