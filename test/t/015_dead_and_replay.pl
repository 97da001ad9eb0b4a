# Dead messages are kept and replayable: retry(id) and
# retry_dead(tool_name, since); bad calls get clear errors.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('replay');

add_webhook($node, tool_name => "'crm'", url => "'http://127.0.0.1:$port/switch/crm'");
receiver_get($port, '/_set/crm/500');
$node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{"n":' || g || '}' FROM nextphone.webhooks, generate_series(1, 3) g});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'dead'", '3',
	'three messages dead after the schedule (3 attempts each)');

# The endpoint is fixed: replay one, then the rest.
receiver_get($port, '/_set/crm/200');
$node->safe_psql('postgres', 'SELECT nextphone.retry(1)');
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = 1", 'delivered', 'retry(id) delivers');
is($node->safe_psql('postgres', 'SELECT count(*) FROM nextphone.attempts WHERE outbox_id = 1'),
	'4', 'earlier attempts kept, one more made');

is($node->safe_psql('postgres', "SELECT nextphone.retry_dead('crm', now() + interval '1 day')"),
	'0', 'retry_dead with a later "since" replays nothing');
is($node->safe_psql('postgres', "SELECT nextphone.retry_dead('crm')"),
	'2', 'retry_dead replays the two other dead messages');
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", '3',
	'all delivered');

# Every request of a message carried the same webhook-id.
my %ids;
$ids{ $_->{headers}{'webhook-id'} }{ $_->{body} } = 1 for @{ receiver_requests($port) };
is(scalar(keys %ids), 3, 'three distinct webhook-ids for three messages');
ok(!(grep { keys %{ $ids{$_} } != 1 } keys %ids), 'each webhook-id always carried the same body');

# Clear errors.
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT nextphone.retry(1)');
like($err, qr/cannot retry message 1 because it is delivered/, 'retry of a delivered message refused');
($rc, $out, $err) = $node->psql('postgres', 'SELECT nextphone.retry(999)');
like($err, qr/message 999 does not exist/, 'retry of an unknown message');
($rc, $out, $err) = $node->psql('postgres', "SELECT nextphone.retry_dead('nope')");
like($err, qr/webhook "nope" does not exist/, 'retry_dead of an unknown webhook');

# A message that was never rendered (an event's delivery stored dead for a
# missing required parameter) has no request: retry() refuses it, and set
# pending by hand it is dead again at once, the worker unharmed.
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.businesses (receiving_number, owner_name) VALUES ('+15559876543', 'Acme');
	SELECT nextphone.create_webhook('{"type": "http", "tool_name": "strict", "http_method": "POST",
	  "url": "http://127.0.0.1:$port/strict", "body_template": {"email": "{{email}}"},
	  "parameters": [{"name": "email", "type": "string", "required": true}],
	  "events": ["lead.created"]}');
	INSERT INTO nextphone.leads (business_id, first_name) SELECT id, 'NoEmail' FROM nextphone.businesses;
});
my $unrendered = $node->safe_psql('postgres',
	"SELECT id FROM nextphone.outbox WHERE webhook = 'strict' AND url IS NULL AND status = 'dead'");
ok($unrendered, 'an event delivery that could not be rendered is stored dead');
($rc, $out, $err) = $node->psql('postgres', "SELECT nextphone.retry($unrendered)");
like($err, qr/cannot retry message $unrendered because it was never rendered/, 'retry refuses it');
my $pid = $node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()');
$node->safe_psql('postgres', "UPDATE nextphone.outbox SET status = 'pending' WHERE id = $unrendered");
wait_for($node, "SELECT status = 'dead' AND last_error LIKE '%never rendered%' FROM nextphone.outbox WHERE id = $unrendered",
	't', 'set pending by hand, it is dead again with the reason');
is($node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()'), $pid,
	'the worker did not crash');

$node->stop;
done_testing();
