# At-least-once across a crash: kill -9 of the worker while thousands of
# deliveries are under way.  The postmaster restarts everything, the worker
# takes back the rows it had leased, and every message arrives; a message
# that arrives twice carries the same webhook-id (and body).
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('kill9', 'nextphone.max_concurrency = 256', 'restart_after_crash = on');
my $n = 10000;

$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/hang/20', '{"n":' || g || '}' FROM generate_series(1, $n) g});
my $pid = $node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()');
ok($node->poll_query_until('postgres',
		"SELECT count(*) >= 1000 FROM nextphone.outbox WHERE status = 'delivered'"),
	'deliveries under way');
my $sending = $node->safe_psql('postgres', "SELECT count(*) FROM nextphone.outbox WHERE status = 'sending'");
note("killing the worker with $sending rows leased");
kill 'KILL', $pid;

# The postmaster reinitialises every process; wait until it accepts
# connections again.
sleep 1;
for (1 .. 300)
{
	last if system('pg_isready', '-q', '-h', $node->host, '-p', $node->port) == 0;
	usleep(100_000);
}

ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM nextphone.worker_status() WHERE pid <> $pid"),
	'the server restarted the worker');
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", $n,
	'every message delivered after the crash');

my %body_of;
my $dups = 0;
my $mismatch = 0;
for my $r (@{ receiver_requests($port) })
{
	my $id = $r->{headers}{'webhook-id'};
	if (exists $body_of{$id})
	{
		$dups++;
		$mismatch++ if $body_of{$id} ne $r->{body};
	}
	$body_of{$id} = $r->{body};
}
note("$dups duplicate deliveries");
is(scalar(keys %body_of), $n, 'the receiver saw every message');
my $missing = grep { !exists $body_of{$_} }
  split /\n/, $node->safe_psql('postgres', 'SELECT msg_id FROM nextphone.outbox');
is($missing, 0, 'every queued message id arrived');
is($mismatch, 0, 'duplicates share webhook-id and body');

$node->stop;
done_testing();
