#!/usr/bin/env bash
# Benchmark: the cost of the security checks, per call, on a throwaway
# cluster (no delivery worker).
#
#   sign:     sign_payload() of a 1 KB body (HMAC-SHA256 + base64)
#   verify:   verify_signature() of the same, headers as jsonb
#   address:  address_allowed() of an IPv4-mapped IPv6 address
#   url:      check_url() of a typical webhook URL (libcurl's parser)
#   baseline: the same query shape calling md5() instead, to show what the
#             SQL around each call costs
#
# Each is timed over N calls (default 100000) in one statement, best of 3.
#
#   bash test/bench/security.sh [calls]
#
# Run as root (the cluster runs as postgres), after make install.  Set
# PG_CONFIG for a private PostgreSQL installation.
set -euo pipefail

n=${1:-100000}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bin=$("$PG_CONFIG" --bindir)
dir=$(mktemp -d /tmp/nextphone-bench.XXXXXX)
chown postgres "$dir"
trap 'runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

runuser -u postgres -- "$bin/initdb" -D "$dir/data" -A trust >/dev/null
cat >> "$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
EOF
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
psql() { runuser -u postgres -- "$bin/psql" -X -q -A -t -h "$dir" -d postgres "$@"; }
psql -c 'CREATE EXTENSION nextphone'

# best of 3, in microseconds per call
bench() {
	local name=$1 sql=$2 best=
	for _ in 1 2 3; do
		local ms
		ms=$(psql -c '\timing on' -c "$sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
		if [ -z "$best" ] || awk "BEGIN { exit !($ms < $best) }"; then best=$ms; fi
	done
	awk -v n="$n" -v ms="$best" -v name="$name" \
		'BEGIN { printf "%-9s %8.2f us per call\n", name, ms * 1000 / n }'
}

secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
bench baseline "SELECT count(md5('msg_' || i || repeat('x', 1000))) FROM generate_series(1, $n) i"
bench sign "SELECT count(nextphone.sign_payload('$secret', 'msg_' || i, 1700000000, repeat('x', 1000))) FROM generate_series(1, $n) i"
bench verify "SELECT count(*) FILTER (WHERE nextphone.verify_signature('$secret',
	jsonb_build_object('webhook-id', 'msg_1', 'webhook-timestamp', extract(epoch FROM now())::bigint::text,
	                   'webhook-signature', 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='),
	repeat('x', 1000) || i)) FROM generate_series(1, $n) i"
bench address "SELECT count(*) FILTER (WHERE nextphone.address_allowed(('::ffff:10.0.' || (i % 256) || '.1')::inet)) FROM generate_series(1, $n) i"
bench url "SELECT count(nextphone.check_url('https://crm' || i || '.example.com/api/leads?business=' || i)) FROM generate_series(1, $n) i"
