# cancel(id) stops a pending (or dead) message; other states are refused.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('cancel', "nextphone.retry_schedule = '0s,1h'");

# One message fails and waits an hour for its next attempt: cancel it.
$node->safe_psql('postgres',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', 'http://127.0.0.1:$port/status/500', '{}')");
wait_for($node, "SELECT attempts = 1 AND status = 'pending' FROM nextphone.outbox", 't',
	'first attempt failed, next in an hour');
$node->safe_psql('postgres', 'SELECT nextphone.cancel(1)');
is($node->safe_psql('postgres', 'SELECT status FROM nextphone.outbox WHERE id = 1'),
	'cancelled', 'cancelled');

# A cancelled message is not sent even when it comes due.
$node->safe_psql('postgres', 'UPDATE nextphone.outbox SET next_attempt_at = now() WHERE id = 1');
usleep(500_000);
is($node->safe_psql('postgres', 'SELECT status, attempts FROM nextphone.outbox WHERE id = 1'),
	'cancelled|1', 'never attempted again');

my ($rc, $out, $err) = $node->psql('postgres', 'SELECT nextphone.cancel(1)');
like($err, qr/cannot cancel message 1 because it is cancelled/, 'cancelling twice is refused');

$node->safe_psql('postgres',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', 'http://127.0.0.1:$port/ok', '{}')");
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = 2", 'delivered', 'delivered');
($rc, $out, $err) = $node->psql('postgres', 'SELECT nextphone.cancel(2)');
like($err, qr/cannot cancel message 2 because it is delivered/, 'a delivered message cannot be cancelled');

# A cancelled message can be retried.
$node->safe_psql('postgres',
	"UPDATE nextphone.outbox SET url = 'http://127.0.0.1:$port/ok' WHERE id = 1");
$node->safe_psql('postgres', 'SELECT nextphone.retry(1)');
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = 1", 'delivered',
	'a cancelled message retried is delivered');

# drop_webhook() cancels its pending messages; one in flight then is
# cancelled when its attempt fails, rather than tried again without its
# webhook (unsigned, as an ad-hoc request), and retry() refuses it.
add_webhook($node, tool_name => "'dropme'", url => "'http://127.0.0.1:$port/hang/3000'",
	timeout_ms => 1500);
my $dropme = $node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook, vars) VALUES ('dropme', '{}') RETURNING id});
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = $dropme", 'sending', 'in flight');
$node->safe_psql('postgres', "SELECT nextphone.drop_webhook('dropme')");
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = $dropme", 'cancelled',
	'its attempt timed out after the drop: cancelled');
like($node->safe_psql('postgres', "SELECT attempts || ' ' || last_error FROM nextphone.outbox WHERE id = $dropme"),
	qr/^1 webhook dropped; the last attempt failed: .*timed out/i, 'the error says why');
($rc, $out, $err) = $node->psql('postgres', "SELECT nextphone.retry($dropme)");
like($err, qr/cannot retry message $dropme because its webhook "dropme" was dropped/,
	'retry() refuses it');
usleep(500_000);
is(scalar(grep { $_->{path} eq '/hang/3000' } @{ receiver_requests($port) }), 1,
	'it was sent once');

# The same for a message taken back after a crash: the server stops while it
# is in flight, its webhook is dropped while no worker runs (the worker is
# pointed at a database that does not exist), and the worker that starts
# again takes it back as cancelled, not as a request to send without its
# webhook.
add_webhook($node, tool_name => "'dropme2'", url => "'http://127.0.0.1:$port/hang/4000'",
	timeout_ms => 5000);
my $crashed = $node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook, vars) VALUES ('dropme2', '{}') RETURNING id});
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = $crashed", 'sending', 'in flight');
# (the worker commits without waiting for the WAL flush: make the claim
# durable, or the crash could undo it)
$node->safe_psql('postgres', 'CHECKPOINT');
$node->stop('immediate');
$node->append_conf('postgresql.conf', "nextphone.database_name = 'nowhere'\n");
$node->start;
$node->safe_psql('postgres', "SELECT nextphone.drop_webhook('dropme2')");
is($node->safe_psql('postgres', "SELECT status FROM nextphone.outbox WHERE id = $crashed"),
	'sending', 'dropped while no worker runs: still sending');
my $sent = scalar(grep { $_->{path} eq '/hang/4000' } @{ receiver_requests($port) });
$node->append_conf('postgresql.conf', "nextphone.database_name = 'postgres'\n");
$node->restart;
wait_for($node, "SELECT status || ' ' || last_error FROM nextphone.outbox WHERE id = $crashed",
	'cancelled webhook dropped', 'taken back after the restart: cancelled');
usleep(500_000);
is(scalar(grep { $_->{path} eq '/hang/4000' } @{ receiver_requests($port) }), $sent,
	'not sent again');

$node->stop;
done_testing();
