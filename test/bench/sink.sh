# Sourced by the benchmarks and test/valgrind.sh: a scratch directory, a
# local nginx sink that answers every request with 200 over keep-alive
# connections, and a throwaway cluster that preloads nextphone.
#
#   sink_setup PREFIX        $dir (owned by postgres), $pgport, $httpport, $BIN
#   sink_nginx [LOCATIONS]   nginx on $httpport; LOCATIONS are extra
#                            location blocks, "location /" answers 200
#   sink_initdb [CONF]       initdb in $dir/data, with the settings every
#                            run needs and the lines of CONF after them
#   sink_webhook             with WEBHOOK=1, the guide's webhook for the
#                            sink (through the caller's psql function)
#   sink_queue_sql N         the statement that queues N rows in one
#                            transaction: ad-hoc rows, or with WEBHOOK=1
#                            the webhook's, through nextphone.enqueue()
#   sink_stop                stop the cluster and nginx (for a trap)

sink_setup()
{
	PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
	BIN=$("$PG_CONFIG" --bindir)
	dir=$(mktemp -d "/tmp/$1.XXXXXX")
	chown postgres "$dir"
	pgport=$(sink_free_port)
	httpport=$(sink_free_port)
}

sink_free_port()
{
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

sink_nginx()
{
	mkdir -p "$dir/nginx"
	cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	# (for a location that logs arrivals: the time in ms and the webhook-id)
	log_format arrive '\$msec \$http_webhook_id';
	client_body_temp_path $dir/nginx;
	keepalive_requests 1000000;
	keepalive_timeout 60s;
	server {
		listen 127.0.0.1:$httpport;
		${1:-}
		location / { return 200; }
	}
}
NGINX
	nginx -c "$dir/nginx.conf"
}

sink_initdb()
{
	runuser -u postgres -- "$BIN/initdb" -D "$dir/data" -A trust >/dev/null
	cat >> "$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'nextphone'
port = $pgport
listen_addresses = ''
unix_socket_directories = '$dir'
nextphone.allowed_networks = '127.0.0.0/8'
${1:-}
CONF
}

# The guide's webhook configuration as the guide prints it (../shared/seed),
# pointed at the sink, with a signing secret and an Authorization header that
# names a secret: each request is rendered, resolved and signed, and the
# webhook's health kept.
sink_webhook()
{
	[ "${WEBHOOK:-0}" = 1 ] || return 0
	local shared config
	shared=${NEXTPHONE_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../shared" && pwd)}
	config=$(awk '/^### NextPhone Webhook Configuration/{f=1} f&&/^\140\140\140json/{g=1;next} g&&/^\140\140\140/{exit} g' \
		"$shared/seed/000_369c8c97d32014d2.txt")
	psql -v ON_ERROR_STOP=1 -v config="$config" -v url="http://127.0.0.1:$httpport/sink" >/dev/null <<'SQL'
SELECT nextphone.set_secret('YOUR_API_KEY', 'sk_test_bench');
SELECT nextphone.create_webhook((:'config'::jsonb || jsonb_build_object('url', :'url',
	'headers', '{"Authorization": "Bearer {{secret.YOUR_API_KEY}}", "Content-Type": "application/json"}'::jsonb,
	'signing_secret', nextphone.generate_secret()))::json);
SQL
}

sink_queue_sql()
{
	if [ "${WEBHOOK:-0}" = 1 ]; then
		echo "SELECT count(nextphone.enqueue('submitLeadToCRM', jsonb_build_object('first_name', 'John',
			'caller_number', '+1555' || lpad(g::text, 7, '0'), 'email', 'john' || g || '@example.com',
			'company_name', 'Smith Roofing', 'message', 'Needs roof inspection, mentioned leak in northwest corner')))
			FROM generate_series(1, $1) g"
	else
		echo "INSERT INTO nextphone.outbox (method, url, body)
			SELECT 'POST', 'http://127.0.0.1:$httpport/sink', '{\"n\":' || g || '}' FROM generate_series(1, $1) g"
	fi
}

sink_stop()
{
	runuser -u postgres -- "$BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	[ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
}
