# A stopping worker lets its requests in flight finish.  On SIGTERM (a fast
# shutdown, pg_terminate_backend) it claims nothing more and, for up to
# nextphone.shutdown_grace, records the outcomes of the requests that
# finish: they are not sent again after the restart.  A request still in
# flight when the grace is over is sent again, with the same webhook-id, as
# after a crash.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('graceful_stop', "nextphone.shutdown_grace = '5s'",
	'max_prepared_transactions = 2');

sub queue
{
	my ($path, $n) = @_;
	$node->safe_psql('postgres', qq{
		INSERT INTO nextphone.outbox (method, url, body)
		SELECT 'POST', 'http://127.0.0.1:$port/$path', '{"n":' || g || '}'
		  FROM generate_series(1, $n) g});
}

sub received
{
	my ($path) = @_;
	my %times;
	$times{ $_->{headers}{'webhook-id'} }++
	  for grep { $_->{path} eq "/$path" } @{ receiver_requests($port) };
	return \%times;
}

# 1. Four requests that take 3 s each are in flight when the server is
# stopped (fast): the stop waits for them, and their outcomes are recorded.
# (The postmaster sends SIGTERM twice, to the worker and to its process
# group: that is not a second SIGTERM.)
queue('hang/3000', 4);
wait_for($node, "SELECT count(*) = 4 FROM nextphone.outbox WHERE status = 'sending'",
	't', 'four requests in flight');
wait_for($node, "SELECT (SELECT count(*) FROM nextphone.worker_status() WHERE in_flight = 4) = 1",
	't', 'the worker has sent them');
my $log_offset = -s $node->logfile;
$node->stop('fast');
my $log = slurp_file($node->logfile, $log_offset);
like($log, qr/delivery worker 1 of database "postgres" stopping.*\n.*DETAIL:  It waits up to 5000 ms for its 4 requests in flight/,
	'the worker says it waits for its requests in flight');
like($log, qr/delivery worker 1 of database "postgres" stopped\n/,
	'and that it stopped');
unlike($log, qr/will be sent again/, 'with nothing left to send again');
$node->start;
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT status || ' ' || attempts, ',') FROM nextphone.outbox}),
	'delivered 1', 'all four were recorded delivered, at the first attempt, before the stop');
is($node->safe_psql('postgres', 'SELECT count(*) FROM nextphone.attempts'), '4',
	'one attempts row each');
my $times = received('hang/3000');
is(scalar(keys %$times), 4, 'the receiver got the four');
is(scalar(grep { $_ != 1 } values %$times), 0, 'each once');

# 2. A request that takes longer than the grace: the worker stops when the
# grace is over, and the request is sent again after the restart, with the
# same webhook-id.  The messages claimed behind it, not started, are given
# back and sent once.
$node->append_conf('postgresql.conf', "nextphone.shutdown_grace = '200ms'\nnextphone.max_concurrency = 1");
$node->restart;
queue('hang/5000', 1);
wait_for($node, "SELECT (SELECT count(*) FROM nextphone.worker_status() WHERE in_flight = 1) = 1",
	't', 'the slow request in flight');
queue('status/200', 3);
wait_for($node, "SELECT count(*) = 4 FROM nextphone.outbox WHERE status = 'sending'",
	't', 'three more claimed behind it, waiting for the one slot');
$log_offset = -s $node->logfile;
$node->stop('fast');
$log = slurp_file($node->logfile, $log_offset);
like($log, qr/stopped\n.*DETAIL:  1 request sent or in flight will be sent again after the restart/,
	'the worker stops when the grace is over, and says what is sent again');
$node->start;
wait_for($node, "SELECT count(*) = 4 FROM nextphone.outbox WHERE status = 'delivered' AND (url LIKE '%/hang/5000' OR url LIKE '%/status/200')",
	't', 'all four delivered after the restart');
$times = received('status/200');
is(join(',', sort values %$times), '1,1,1', 'the three claimed but not started were sent once each');
$times = received('hang/5000');
is(scalar(keys %$times), 1, 'the slow request was one message');
is((values %$times)[0], 2, 'sent twice, with the same webhook-id');

# 3. A second SIGTERM stops the worker at once.
$node->append_conf('postgresql.conf', "nextphone.shutdown_grace = '60s'");
$node->reload;
queue('hang/8000', 1);
wait_for($node, "SELECT (SELECT count(*) FROM nextphone.worker_status() WHERE in_flight = 1) = 1",
	't', 'a request that takes 8 s in flight');
my $pid = $node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
wait_for($node, "SELECT state FROM nextphone.worker_status()", 'stopping',
	'after SIGTERM the worker is stopping, waiting for it');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
wait_for($node, "SELECT count(*) = 1 FROM nextphone.worker_status() WHERE pid <> $pid AND state <> 'starting'",
	't', 'a second SIGTERM stops it at once, and the server starts it again');

# 4. A step that outlasts the grace ends as an immediate stop would.  A
# prepared transaction (it outlives the shutdown) holds a lock on the
# outbox, so the outcome of the request that finishes within the grace
# cannot be recorded: the worker waits for the lock until a second after its
# grace, then stops, and the fast shutdown completes.  The message is sent
# again after the restart.  (The request takes 2 s, so that the lock is
# surely taken before its outcome comes.)
wait_for($node, "SELECT count(*) = 0 FROM nextphone.outbox WHERE queued", 't',
	'(the 8 s request delivered after all)');
$node->append_conf('postgresql.conf', "nextphone.shutdown_grace = '3s'\nnextphone.max_concurrency = 4");
$node->restart;
queue('hang/2000', 1);
wait_for($node, "SELECT (SELECT count(*) FROM nextphone.worker_status() WHERE in_flight = 1) = 1",
	't', 'a request in flight');
$node->safe_psql('postgres', q{
	BEGIN;
	LOCK TABLE nextphone.outbox IN SHARE MODE;
	PREPARE TRANSACTION 'hold'});
$log_offset = -s $node->logfile;
my $stopped = PostgreSQL::Test::Utils::system_log('pg_ctl', '-D', $node->data_dir,
	'-m', 'fast', '-t', '60', 'stop');
$node->_update_pid(0);
is($stopped, 0, 'the fast shutdown completes although the outbox is locked');
like(slurp_file($node->logfile, $log_offset),
	qr/terminating background worker "nextphone delivery worker" due to administrator command/,
	'the worker was stopped while it waited for the lock');
$node->start;
$node->safe_psql('postgres', "ROLLBACK PREPARED 'hold'");
wait_for($node, "SELECT status FROM nextphone.outbox WHERE url LIKE '%/hang/2000'", 'delivered',
	'the message delivered after the restart');
$times = received('hang/2000');
is((values %$times)[0], 2, 'sent twice, with the same webhook-id');

$node->stop('immediate');
done_testing();
