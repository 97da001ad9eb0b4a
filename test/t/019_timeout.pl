# A request past its webhook's timeout_ms fails and is retried; a slow
# endpoint never holds back the others.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('timeout', "nextphone.retry_schedule = '0s,1h'");

add_webhook($node, tool_name => "'slow'", url => "'http://127.0.0.1:$port/hang/3000'",
	timeout_ms => 400);
$node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks});
# while the slow one hangs, fast ad-hoc messages get through
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/fast', '{}' FROM generate_series(1, 20)});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", '20',
	'fast messages delivered');
wait_for($node, "SELECT attempts = 1 AND status = 'pending' FROM nextphone.outbox WHERE id = 1", 't',
	'the slow one failed its attempt and waits for the next');
my ($err, $ms) = split /\|/, $node->safe_psql('postgres',
	'SELECT error, duration_ms FROM nextphone.attempts WHERE outbox_id = 1');
like($err, qr/timed out/i, 'the attempt failed on its timeout');
ok($ms >= 350 && $ms < 2500, "after about 400 ms ($ms ms)");
my ($fast_done) = $node->safe_psql('postgres',
	"SELECT max(delivered_at) < (SELECT min(started_at) + interval '400 ms' FROM nextphone.attempts WHERE outbox_id = 1) FROM nextphone.outbox WHERE id > 1");
is($fast_done, 't', 'the fast messages were delivered while the slow one was in flight')
  or diag($node->safe_psql('postgres',
	'SELECT outbox_id, started_at, duration_ms FROM nextphone.attempts ORDER BY started_at'));

$node->stop;
done_testing();
