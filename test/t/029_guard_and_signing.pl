# The worker applies the network guard at connect time (an address outside
# nextphone.allowed_networks is refused: a failed attempt, not retried) and
# signs deliveries of a webhook that has a signing secret.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('guard', "nextphone.allowed_networks = '127.0.0.1/32'");

# Signed: webhook-timestamp and webhook-signature, as sign_payload computes.
my $secret = $node->safe_psql('postgres', 'SELECT nextphone.generate_secret()');
add_webhook($node, tool_name => "'signed'", url => "'http://127.0.0.1:$port/signed'",
	signing_secret => "'$secret'");
$node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{"a": "é"}' FROM nextphone.webhooks});
wait_for($node, "SELECT status FROM nextphone.outbox", 'delivered', 'signed delivery delivered');
my $r = receiver_requests($port)->[0];
my $msg_id = $node->safe_psql('postgres', 'SELECT msg_id FROM nextphone.outbox');
like($r->{headers}{'webhook-timestamp'}, qr/^\d+$/, 'webhook-timestamp sent');
is($r->{headers}{'webhook-signature'},
	$node->safe_psql('postgres',
		"SELECT nextphone.sign_payload('$secret', '$msg_id', $r->{headers}{'webhook-timestamp'}, body) FROM nextphone.outbox"),
	'webhook-signature signs id.timestamp.body');

# 127.0.0.2 is loopback but not in the worker's allowed_networks: refused at
# connect time, not retried.  (The session widens its own allowed_networks so
# the check made when the row is queued lets it through to the worker.)
$node->safe_psql('postgres', qq{
	SET nextphone.allowed_networks = '127.0.0.0/8';
	INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', 'http://127.0.0.2:$port/inside', '{}')});
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = 2", 'dead', 'refused address: dead');
is($node->safe_psql('postgres', 'SELECT attempts FROM nextphone.outbox WHERE id = 2'),
	'1', 'after one attempt');
like($node->safe_psql('postgres', 'SELECT last_error FROM nextphone.outbox WHERE id = 2'),
	qr/127\.0\.0\.2.* refused/, 'the error says why');
is(scalar @{ receiver_requests($port) }, 1, 'nothing reached the receiver');

$node->stop;
done_testing();
