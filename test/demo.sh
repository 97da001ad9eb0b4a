#!/usr/bin/env bash
# The main job, end to end, on a throwaway local cluster: the guide's scenario.
#
#   a business, the guide's submitLeadToCRM webhook (its configuration JSON,
#   signed, with its bearer token kept in nextphone.secrets), a local CRM that
#   checks the token and the signature and stores the lead, a recorded call
#   with collected parameters -- then the delivery, as it happens, from SQL.
#   A second webhook points at an endpoint that answers 500 three times: its
#   retries show, then it is delivered.
#
# Run as root on Debian 12: installs what it needs, builds, installs, and
# removes the cluster afterwards.  Exits non-zero if anything did not happen.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

tmp=$(mktemp -d /tmp/nextphone-demo.XXXXXX)
chown postgres:postgres "$tmp"
receiver_pid=
cleanup() {
	[ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null || true
	runuser -u postgres -- pg_ctl -D "$tmp/data" -m fast stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pgport=$(free_port)
crmport=$(free_port)
token="crm-$(openssl rand -hex 12)"

echo "== a throwaway cluster in $tmp, with the library preloaded"
runuser -u postgres -- initdb -D "$tmp/data" -A trust >/dev/null
cat >>"$tmp/data/postgresql.conf" <<CONF
shared_preload_libraries = 'nextphone'
listen_addresses = ''
port = $pgport
unix_socket_directories = '$tmp'
# the demo's CRM listens on loopback, which the SSRF guard refuses by default
nextphone.allowed_networks = '127.0.0.1/32'
CONF
runuser -u postgres -- pg_ctl -D "$tmp/data" -l "$tmp/server.log" -w start >/dev/null

psql_demo() {
	runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$pgport" -d postgres "$@"
}

secret=$(psql_demo -Atc "CREATE EXTENSION nextphone; SELECT nextphone.generate_secret()")

echo "== the business's CRM on 127.0.0.1:$crmport (checks the bearer token and the signature)"
python3 "$NEXTPHONE_ROOT/test/demo/crm_receiver.py" --port "$crmport" \
	--token "$token" --secret "$secret" --store "$tmp/crm-leads.jsonl" --flaky-failures 3 &
receiver_pid=$!
for i in $(seq 1 50); do
	curl -s -o /dev/null "http://127.0.0.1:$crmport/" && break
	sleep 0.1
done

echo "== configuring: a business, a secret, the guide's webhook, a flaky second one"
psql_demo -v crm="http://127.0.0.1:$crmport" -v token="$token" -v secret="$secret" <<'SQL'
INSERT INTO nextphone.businesses (receiving_number, owner_name, website, booking_url)
VALUES ('+15559876543', 'Acme Contracting', 'https://acmecontracting.com',
        'https://acmecontracting.com/schedule');

-- The CRM's bearer token, kept in nextphone.secrets: only the worker reads it.
SELECT FROM nextphone.set_secret('CRM_API_KEY', :'token') \g /dev/null

-- The guide's configuration JSON, as printed, with the token taken from
-- nextphone.secrets, a signing secret, and the event it fires on.
SELECT nextphone.create_webhook(format($$ {
  "type": "http",
  "tool_name": "submitLeadToCRM",
  "description": "Save lead information when caller expresses interest",
  "http_method": "POST",
  "url": "%s/api/nextphone-webhook",
  "headers": {
    "Authorization": "Bearer {{secret.CRM_API_KEY}}",
    "Content-Type": "application/json"
  },
  "body_template": {
    "first_name": "{{first_name}}",
    "phone": "{{caller_number}}",
    "email": "{{email}}",
    "company": "{{company_name}}",
    "notes": "{{message}}",
    "source": "NextPhone AI"
  },
  "parameters": [
    {"name": "first_name", "type": "string", "description": "Caller's first name"},
    {"name": "email", "type": "string", "description": "Caller's email address"},
    {"name": "company_name", "type": "string", "description": "Company name"},
    {"name": "message", "type": "string", "description": "Inquiry details"}
  ],
  "events": ["lead.created"],
  "signing_secret": "%s"
} $$, :'crm', :'secret')::json) AS "submitLeadToCRM";

-- A dispatch endpoint that fails three times before it works.
SELECT nextphone.create_webhook(format($$ {
  "type": "http",
  "tool_name": "notifyDispatch",
  "http_method": "POST",
  "url": "%s/api/flaky",
  "headers": {"Authorization": "Bearer {{secret.CRM_API_KEY}}"},
  "body_template": {"caller": "{{caller_number}}", "summary": "{{summary}}",
                    "budget": "{{budget}}", "service": "{{service_type}}"},
  "parameters": [{"name": "budget", "type": "number"},
                 {"name": "service_type", "type": "string"}],
  "events": ["call.completed"],
  "retry_schedule": ["0s", "1s", "1s", "1s", "1s"],
  "signing_secret": "%s"
} $$, :'crm', :'secret')::json) AS "notifyDispatch";
SQL

echo "== a call comes in; the AI collects a lead"
psql_demo <<'SQL'
SELECT nextphone.record_call('{
  "external_id": "CA-demo-1",
  "caller_number": "+15551234567",
  "receiving_number": "+15559876543",
  "started_at": "2026-11-26T15:00:00Z",
  "ended_at": "2026-11-26T15:03:30Z",
  "status": "completed",
  "summary": "Roof leak, wants an inspection this week",
  "collected": {
    "first_name": "John",
    "email": "john@example.com",
    "company_name": "Smith & Sons",
    "message": "Needs roof inspection, mentioned leak in northwest corner",
    "budget": 5000.00,
    "service_type": "roof inspection"
  }
}') AS call_id;
SQL

echo "== delivery status, as it happens (SELECT ... FROM nextphone.outbox)"
status_query="SELECT rpad(coalesce(webhook, '(ad hoc)'), 16) || rpad(status, 10) ||
       'attempts=' || attempts || coalesce('  last=' || last_status_code, '') ||
       coalesce('  error=' || left(last_error, 60), '')
  FROM nextphone.outbox ORDER BY id"
last=
done_ok=0
for i in $(seq 1 120); do
	now=$(psql_demo -Atc "$status_query")
	if [ "$now" != "$last" ]; then
		printf '%s  ---\n%s\n' "$(date +%T.%3N)" "$now"
		last=$now
	fi
	if [ "$(psql_demo -Atc "SELECT count(*) FILTER (WHERE status <> 'delivered') = 0 AND count(*) = 2 FROM nextphone.outbox")" = t ]; then
		done_ok=1
		break
	fi
	sleep 0.25
done

echo "== every attempt (nextphone.attempts)"
psql_demo -c "SELECT o.webhook, a.attempt, a.status_code, round(a.duration_ms::numeric, 1) AS ms, a.error
                FROM nextphone.attempts a JOIN nextphone.outbox o ON o.id = a.outbox_id
               ORDER BY a.id"

echo "== per-webhook health (nextphone.webhook_health)"
psql_demo -c "SELECT tool_name, health, health_reason, delivered, dead, attempts_24h,
                     round(success_rate_24h, 2) AS success_24h, round(latency_p50_ms::numeric, 1) AS p50_ms
                FROM nextphone.webhook_health ORDER BY webhook_id"

echo "== what the CRM stored"
if [ -f "$tmp/crm-leads.jsonl" ]; then
	python3 -m json.tool --json-lines "$tmp/crm-leads.jsonl"
fi

stored=$(wc -l <"$tmp/crm-leads.jsonl" 2>/dev/null || echo 0)
if [ "$done_ok" -ne 1 ] || [ "$stored" -ne 2 ]; then
	echo "FAILED: not everything was delivered (server log follows)" >&2
	tail -20 "$tmp/server.log" >&2
	exit 1
fi
echo "== done: a call recorded, its lead and the call delivered, signed, to the CRM"
