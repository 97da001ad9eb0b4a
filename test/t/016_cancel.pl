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

$node->stop;
done_testing();
