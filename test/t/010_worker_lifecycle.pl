# The delivery worker's life: registered when preloaded, waiting calmly
# while the extension is absent, visible in pg_stat_activity, restarted
# after it is terminated.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();

# Not preloaded: no worker.
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
is($plain->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'nextphone delivery worker'"),
	'0', 'no delivery worker without shared_preload_libraries');
$plain->stop;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'nextphone'\n"
	  . "nextphone.allowed_networks = '127.0.0.0/8'\n");
$node->start;

# The extension is not installed yet: the worker waits, and says so once.
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'nextphone delivery worker'"),
	'the worker shows in pg_stat_activity');
ok($node->wait_for_log(qr/nextphone delivery worker waiting for the extension in database "postgres"/),
	'the worker waits for the extension');
my $pid1 = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'nextphone delivery worker'");

# Installing it and queueing a message: the commit wakes the worker.
$node->safe_psql('postgres', 'CREATE EXTENSION nextphone');
$node->safe_psql('postgres',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', 'http://127.0.0.1:$port/one', '{}')");
wait_for($node, "SELECT status = 'delivered' FROM nextphone.outbox", 't',
	'first message delivered once the extension exists');
is($node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()'),
	$pid1, 'worker_status() names the running worker');

# pg_cancel_backend() does nothing to it: a cancelled step would end the
# worker, and the requests in flight would be sent again.
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/hang/1500', '{}' FROM generate_series(1, 3)});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'sending'", '3', 'three in flight');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid1)");
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", '4',
	'delivered after a cancel request');
is($node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()'), $pid1,
	'the same worker');
is(scalar(grep { $_->{path} eq '/hang/1500' } @{ receiver_requests($port) }), 3, 'each sent once');

# SIGTERM stops it; the postmaster starts it again.
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid1)");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'nextphone delivery worker' AND pid <> $pid1"),
	'the worker is restarted after SIGTERM');
$node->safe_psql('postgres',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', 'http://127.0.0.1:$port/two', '{}')");
wait_for($node, "SELECT count(*) = 5 FROM nextphone.outbox WHERE status = 'delivered'", 't',
	'the restarted worker delivers');

# Dropping the extension: the worker goes back to waiting, and the server
# stays up.
$node->safe_psql('postgres', 'DROP EXTENSION nextphone');
$node->safe_psql('postgres', 'CREATE EXTENSION nextphone');
$node->safe_psql('postgres',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', 'http://127.0.0.1:$port/three', '{}')");
wait_for($node, "SELECT status = 'delivered' FROM nextphone.outbox", 't',
	'delivers again after the extension is re-created');

$node->stop;
done_testing();
