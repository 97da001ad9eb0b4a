# An ordered webhook: messages go in insertion order, one at a time, and a
# failing head holds the rest back.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('ordered');

add_webhook($node, tool_name => "'fifo'", url => "'http://127.0.0.1:$port/hang/30'",
	ordered => 'true', retry_schedule => q{'{0s,200ms}'}, max_attempts => 20);
# The head first fails (switch), the others would succeed at once.
receiver_get($port, '/_set/head/500');
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', 'http://127.0.0.1:$port/switch/head', '{"n":0}' FROM nextphone.webhooks;
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{"n":' || g || '}' FROM nextphone.webhooks, generate_series(1, 10) g});
wait_for($node, "SELECT attempts >= 2 FROM nextphone.outbox WHERE id = 1", 't',
	'the head fails twice');
is($node->safe_psql('postgres', 'SELECT sum(attempts) FROM nextphone.outbox WHERE id > 1'),
	'0', 'a failing head holds the rest back');

receiver_get($port, '/_set/head/200');
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", '11',
	'all delivered once the head gets through');

my @ok = grep { $_->{path} ne '/switch/head' || $_->{body} eq '{"n":0}' } @{ receiver_requests($port) };
my @order = map { $_->{body} =~ /"n":(\d+)/; $1 } grep { $_->{path} eq '/hang/30' } @ok;
is("@order", join(' ', 1 .. 10), 'delivered in insertion order');

# One at a time: each delivery started after the previous one ended.
my $overlap = $node->safe_psql('postgres', q{
	SELECT count(*) FROM nextphone.attempts a JOIN nextphone.attempts b
	  ON b.outbox_id > a.outbox_id AND b.outbox_id > 1 AND a.outbox_id > 1
	 AND b.started_at < a.started_at + a.duration_ms * interval '1 ms'});
is($overlap, '0', 'never two in flight');

# Under a steady load of other messages, the ordered webhook still gets a
# slot: its head does not wait until every message queued before it is
# sent (the backlog of claimed rows leaves a slot free for it).
$node->safe_psql('postgres', 'ALTER SYSTEM SET nextphone.max_concurrency = 4');
$node->reload;
$node->poll_query_until('postgres',
	"SELECT last_cycle_at > pg_conf_load_time() FROM nextphone.worker_status()");
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/hang/20', '{"load":' || g || '}' FROM generate_series(1, 1000) g});
wait_for($node, "SELECT count(*) >= 40 FROM nextphone.outbox WHERE body LIKE '%load%' AND status = 'delivered'",
	't', 'a steady load of 1,000 messages, 4 at a time');
my $late = $node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{"n":11}' FROM nextphone.webhooks WHERE tool_name = 'fifo' RETURNING id});
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = $late", 'delivered',
	'the ordered message is delivered');
my $after = $node->safe_psql('postgres', qq{
	SELECT count(*) FROM nextphone.outbox
	 WHERE body LIKE '%load%' AND status = 'delivered'
	   AND delivered_at < (SELECT delivered_at FROM nextphone.outbox WHERE id = $late)});
cmp_ok($after, '<', 500, "... while the load goes on ($after of its 1,000 delivered by then)");

$node->stop;
done_testing();
