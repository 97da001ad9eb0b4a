# Delivered messages and their attempts are purged after nextphone.retention;
# dead ones are kept.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('retention', "nextphone.retention = '2s'");

$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/ok', '{}' FROM generate_series(1, 5);
	INSERT INTO nextphone.outbox (method, url, body)
	VALUES ('POST', 'http://127.0.0.1:$port/status/400', '{}')});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status IN ('delivered', 'dead')", '6',
	'delivered and dead');
is($node->safe_psql('postgres', 'SELECT count(*) FROM nextphone.attempts'), '8',
	'attempts recorded (5 + 3)');
wait_for($node, "SELECT count(*) FROM nextphone.outbox", '1', 'delivered rows purged after 2 s');
is($node->safe_psql('postgres', 'SELECT status, (SELECT count(*) FROM nextphone.attempts) FROM nextphone.outbox'),
	'dead|3', 'the dead row and its attempts are kept, no orphan attempts');

$node->stop;
done_testing();
