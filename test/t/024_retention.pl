# Delivered messages and their attempts are purged after nextphone.retention;
# dead ones are kept.  The purge runs every minute (or every retention, when
# shorter) and deletes at most 10,000 rows at a time; while it finds that
# many, it runs again a second later, so that it keeps up with any rate of
# deliveries.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
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

# A backlog of 25,000 delivered rows, two hours old, with a retention of an
# hour: a purge a minute would take two minutes over it.  (Inserted as the
# worker would leave them, without the outbox's triggers.)
$node->append_conf('postgresql.conf', "nextphone.retention = '1h'");
$node->reload;
$node->safe_psql('postgres', q{
	SET session_replication_role = replica;
	INSERT INTO nextphone.outbox (method, url, body, status, attempts, next_attempt_at, delivered_at)
	SELECT 'POST', 'http://127.0.0.1:1/old', '{}', 'delivered', 1,
	       now() - interval '2 hours', now() - interval '2 hours'
	  FROM generate_series(1, 25000)});
my $start = time;
my $left;
for (1 .. 400)
{
	$left = $node->safe_psql('postgres', "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'");
	last if $left eq '0';
	usleep(100_000);
}
is($left, '0', 'a backlog of 25,000 delivered rows is purged');
cmp_ok(time - $start, '<', 40, 'batch after batch, not one batch a minute');
is($node->safe_psql('postgres', 'SELECT status FROM nextphone.outbox'), 'dead',
	'the dead row is still kept');

$node->stop;
done_testing();
