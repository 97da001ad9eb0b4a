# SIGHUP (pg_reload_conf) applies new worker settings without a restart.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('sighup', "nextphone.default_timeout = '30s'",
	"nextphone.retry_schedule = '0s,1h'");
my $url = "http://127.0.0.1:$port/hang/1500";

$node->safe_psql('postgres',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', '$url', '{}')");
wait_for($node, "SELECT status = 'delivered' FROM nextphone.outbox", 't',
	'a 1.5 s answer is in time with a 30 s timeout');

$node->append_conf('postgresql.conf', "nextphone.default_timeout = '300ms'\n");
$node->reload;
# the worker applies it at its next loop; give it one by queueing nothing
$node->poll_query_until('postgres',
	"SELECT last_cycle_at > pg_conf_load_time() FROM nextphone.worker_status()");
$node->safe_psql('postgres',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', '$url', '{}')");
wait_for($node, "SELECT attempts = 1 AND status = 'pending' FROM nextphone.outbox WHERE id = 2", 't',
	'after the reload the same answer times out');
like($node->safe_psql('postgres', 'SELECT last_error FROM nextphone.outbox WHERE id = 2'),
	qr/timed out/i, 'the attempt failed on the new timeout');

$node->stop;
done_testing();
