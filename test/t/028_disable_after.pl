# A webhook with only failures for nextphone.disable_after is disabled with
# a reason.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('disable', "nextphone.disable_after = '1s'");

add_webhook($node, tool_name => "'broken'", url => "'http://127.0.0.1:$port/status/500'",
	retry_schedule => q{'{0s,300ms}'}, max_attempts => 100);
$node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks});
wait_for($node, "SELECT NOT enabled FROM nextphone.webhooks", 't', 'disabled');
like($node->safe_psql('postgres', 'SELECT disabled_reason FROM nextphone.webhook_health'),
	qr/^every attempt failed since /, 'with the reason');
like($node->safe_psql('postgres', 'SELECT health, health_reason FROM nextphone.webhook_health'),
	qr/^disabled\|every attempt failed since /, 'health at a glance: disabled, and why');
my $attempts = $node->safe_psql('postgres', 'SELECT attempts FROM nextphone.outbox');
ok($attempts >= 3 && $attempts < 100, "it failed for a second ($attempts attempts), then stopped");

$node->stop;
done_testing();
