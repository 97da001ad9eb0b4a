# nextphone.workers = 2: two workers share the queue (SKIP LOCKED); each
# message is sent once.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('two', 'nextphone.workers = 2', 'nextphone.max_concurrency = 16');

is($node->safe_psql('postgres', 'SELECT count(*) FROM nextphone.worker_status()'),
	'2', 'two workers running');
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/hang/5', '{"n":' || g || '}' FROM generate_series(1, 2000) g});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", '2000',
	'all delivered');
my $reqs = receiver_requests($port);
is(scalar @$reqs, 2000, 'each message sent exactly once');
is($node->safe_psql('postgres', 'SELECT bool_and(delivered > 0), sum(delivered) FROM nextphone.worker_status()'),
	't|2000', 'both workers took part');

$node->stop;
done_testing();
