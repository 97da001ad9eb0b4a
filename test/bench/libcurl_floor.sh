#!/usr/bin/env bash
# The least libcurl can cost per request on this machine, to set beside the
# delivery worker's instructions (instructions.sh).  Run as root:
#
#   bash test/bench/libcurl_floor.sh [N] [MAX_CONCURRENCY]
#
# Builds libcurl_floor.c (a client of a few lines driving libcurl as the
# worker does, with nothing of nextphone's), runs it under callgrind against
# the local nginx sink with N requests (default 20000) and with 1,000, and
# prints the instructions per request of the difference (start-up left out),
# without and with curl_easy_reset before each request.
set -euo pipefail
N=${1:-20000}
CONC=${2:-64}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/sink.sh"
sink_setup nextphone-libcurl
trap 'sink_stop; rm -rf "$dir"' EXIT
sink_nginx
cc -O2 -Wall -o "$dir/libcurl_floor" "$here/libcurl_floor.c" -lcurl
instructions()
{
	valgrind --tool=callgrind --callgrind-out-file=/dev/null "$dir/libcurl_floor" \
		"http://127.0.0.1:$httpport/sink" "$1" "$CONC" "$2" 2>&1 |
		awk '/Collected :/ {print $NF}'
}
echo "== libcurl $(curl-config --version 2>/dev/null || echo) ($N requests, $CONC at a time)"
for reset in 0 1; do
	big=$(instructions "$N" $reset)
	small=$(instructions 1000 $reset)
	echo "instructions a request$([ $reset = 1 ] && echo ', curl_easy_reset before each'): $(( (big - small) / (N - 1000) ))"
done
