# Transport failures: a refused connection (nothing listening), a reset
# connection and a host name that does not resolve are failed attempts,
# retried, then dead.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $down = PostgreSQL::Test::Cluster::get_free_port();
# (.invalid never resolves, and the final dot keeps resolv.conf's search
# domains out; a resolver that does not answer makes it a timeout instead)
my $node = worker_node('refused', 'nextphone.default_timeout = 3000');

$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body) VALUES
	  ('POST', 'http://127.0.0.1:$down/nobody', '{}'),
	  ('POST', 'http://127.0.0.1:$port/reset', '{}'),
	  ('POST', 'http://no-such-host.invalid./hook', '{}')});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'dead'", '3',
	'all three dead after the schedule');
is($node->safe_psql('postgres', 'SELECT string_agg(attempts::text, \',\' ORDER BY id) FROM nextphone.outbox'),
	'3,3,3', 'three attempts each');
like($node->safe_psql('postgres', 'SELECT last_error FROM nextphone.outbox WHERE id = 1'),
	qr/connect/i, 'refused connection recorded');
like($node->safe_psql('postgres', 'SELECT last_error FROM nextphone.outbox WHERE id = 2'),
	qr/reset|empty reply|recv/i, 'reset connection recorded');
like($node->safe_psql('postgres', 'SELECT last_error FROM nextphone.outbox WHERE id = 3'),
	qr/resolve|timed out/i, 'unresolvable host name recorded');
is($node->safe_psql('postgres',
		'SELECT count(*) FROM nextphone.attempts WHERE status_code IS NULL AND error IS NOT NULL'),
	'9', 'every failed attempt has an error and no status code');

$node->stop;
done_testing();
