# Sourced by the benchmarks and test/valgrind.sh: a scratch directory, a
# local nginx sink that answers every request with 200 over keep-alive
# connections, and a throwaway cluster that preloads nextphone.
#
#   sink_setup PREFIX        $dir (owned by postgres), $pgport, $httpport, $BIN
#   sink_nginx [LOCATIONS]   nginx on $httpport; LOCATIONS are extra
#                            location blocks, "location /" answers 200
#   sink_initdb [CONF]       initdb in $dir/data, with the settings every
#                            run needs and the lines of CONF after them
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

sink_stop()
{
	runuser -u postgres -- "$BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	[ -f "$dir/nginx.pid" ] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null || true
}
