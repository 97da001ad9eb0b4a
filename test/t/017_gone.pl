# 410 Gone: the message is dead at once and the webhook is disabled with a
# reason; its other messages wait.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('gone');

add_webhook($node, tool_name => "'old'", url => "'http://127.0.0.1:$port/gone'");
$node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks});
wait_for($node, "SELECT status FROM nextphone.outbox", 'dead', 'dead after a 410');
is($node->safe_psql('postgres', 'SELECT attempts, last_status_code FROM nextphone.outbox'),
	'1|410', 'after one attempt');
is($node->safe_psql('postgres', 'SELECT enabled, disabled_reason FROM nextphone.webhooks'),
	'f|the endpoint answered 410 Gone', 'webhook disabled, with the reason');

# Messages of a disabled webhook wait.
$node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks});
usleep(500_000);
is($node->safe_psql('postgres', 'SELECT status, attempts FROM nextphone.outbox WHERE id = 2'),
	'pending|0', 'a message of a disabled webhook is not sent');
is(scalar @{ receiver_requests($port) }, 1, 'the receiver saw one request only');

# A session that queued for a webhook before the worker disabled it hears of
# the change (the worker's update, in replica mode, still invalidates the
# sessions' webhook caches): its next enqueue is refused.
my ($rc, $out, $err) = $node->psql('postgres', qq{
	SELECT nextphone.create_webhook('{"type": "http", "tool_name": "lapsed",
	  "http_method": "POST", "url": "http://127.0.0.1:$port/gone", "body_template": {"a": 1}}');
	SELECT nextphone.enqueue('lapsed', '{}') > 0;
	DO \$\$
	BEGIN
		FOR i IN 1 .. 400 LOOP
			EXIT WHEN NOT (SELECT enabled FROM nextphone.webhooks WHERE tool_name = 'lapsed');
			PERFORM pg_sleep(0.05);
		END LOOP;
	END
	\$\$;
	SELECT enabled FROM nextphone.webhooks WHERE tool_name = 'lapsed';
	SELECT nextphone.enqueue('lapsed', '{}');
});
like($out, qr/^\d+\nt\nf$/, 'the same session queued one message, then the worker disabled the webhook');
like($err, qr/webhook "lapsed" is disabled/, 'and its next enqueue is refused');

$node->stop;
done_testing();
