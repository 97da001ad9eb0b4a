# The commit of an enqueue wakes the worker at once (a latch, not a poll);
# a rolled-back enqueue wakes nothing.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WorkerHelper;

my $port = start_receiver();
# With an hour between polls, only the latch can explain a delivery.
my $node = worker_node('wakeup', "nextphone.poll_interval = '1h'");
my $url = "http://127.0.0.1:$port/wake";

$node->safe_psql('postgres',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', '$url', '{}')");
wait_for($node, "SELECT status = 'delivered' FROM nextphone.outbox", 't',
	'a committed enqueue is delivered without waiting for the poll');

# Let the worker settle, then roll back an enqueue: its loop does not run.
usleep(300_000);
my $cycle = $node->safe_psql('postgres', 'SELECT last_cycle_at FROM nextphone.worker_status()');
$node->safe_psql('postgres',
	"BEGIN; INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', '$url', '{}'); ROLLBACK;");
usleep(300_000);
is($node->safe_psql('postgres', 'SELECT last_cycle_at FROM nextphone.worker_status()'),
	$cycle, 'a rolled-back enqueue does not wake the worker');

# Several enqueues in one transaction, one wake-up, all delivered.
$node->safe_psql('postgres',
	"BEGIN; INSERT INTO nextphone.outbox (method, url, body) SELECT 'POST', '$url', '{}' FROM generate_series(1, 50);"
	  . " INSERT INTO nextphone.outbox (method, url) VALUES ('GET', '$url'); COMMIT;");
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", '52',
	'every row of a multi-row enqueue delivered');

$node->stop;
done_testing();
