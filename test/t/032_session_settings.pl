# The delivery worker and other sessions.
#
# A session that edits a webhook, and keeps its transaction open, holds the
# webhook's row.  The worker records outcomes with the webhook's health, but
# it does not wait for that row: waiting would stall every request in flight
# (their answers would be taken for timeouts), and with a lock_timeout set
# for the database (a common guard) it would fail and send the batch again.
# The outcomes of that webhook wait in memory instead, their rows keep their
# lease, no new rows of that webhook are sent, and everything else goes on.
#
# Settings a database gives its sessions that would make the worker fail
# after sending (lock_timeout, exit_on_error, temp_file_limit) do not apply
# to it.  (statement_timeout does not apply to a background worker's
# statements.)  A database made read-only pauses it.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('settings', 'nextphone.default_timeout = 1000');
my $hook = add_webhook($node, tool_name => "'crm'", url => "'http://127.0.0.1:$port/crm'");

$node->safe_psql('postgres', "ALTER DATABASE postgres SET lock_timeout = '100ms'");
# (the worker takes the database's settings when it connects)
$node->restart;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM nextphone.worker_status() WHERE state <> 'starting'"),
	'worker running');
my $pid = $node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()');
is($node->safe_psql('postgres', 'SHOW lock_timeout'), '100ms',
	"the database's sessions have lock_timeout 100ms");

# Whether the worker's loop goes round while a lock is held: it may wait
# for one 50 ms at a time (QUEUE_BUSY_WAIT_MS), so a single look at
# pg_stat_activity could catch it waiting; its last cycle must move on.
sub worker_not_stuck
{
	my $before = $node->safe_psql('postgres', 'SELECT last_cycle_at FROM nextphone.worker_status()');
	return $node->poll_query_until('postgres',
		"SELECT last_cycle_at > '$before' FROM nextphone.worker_status()");
}

sub crm_requests
{
	return scalar grep { $_->{path} eq '/crm' } @{ receiver_requests($port) };
}

# A session edits the webhook and keeps its transaction open.
my $editor = $node->background_psql('postgres');
$editor->query_safe('BEGIN');
$editor->query_safe("UPDATE nextphone.webhooks SET description = 'being edited' WHERE id = $hook");

$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT $hook, 'POST', 'http://127.0.0.1:$port/crm', '{"n":' || g || '}'
	  FROM generate_series(1, 5) g});
for (1 .. 300)
{
	last if crm_requests() >= 5;
	usleep(100_000);
}
is(crm_requests(), 5, "the webhook's 5 messages are sent");
ok($node->poll_query_until('postgres', qq{
		SELECT count(*) = 5 FROM nextphone.outbox
		 WHERE webhook_id = $hook AND status = 'sending' AND lease_until > now()}),
	'their outcomes wait, the rows keep their lease');
my $lease = $node->safe_psql('postgres',
	"SELECT max(lease_until) FROM nextphone.outbox WHERE webhook_id = $hook");

# Meanwhile other deliveries go on, without a stall: 300 ms answers within a
# 1 s timeout are delivered.
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/hang/300', '{}' FROM generate_series(1, 5)});
wait_for($node, q{SELECT count(*) FROM nextphone.outbox WHERE url LIKE '%/hang/300' AND status = 'delivered'},
	'5', 'ad-hoc messages are delivered meanwhile');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM nextphone.attempts a JOIN nextphone.outbox o ON o.id = a.outbox_id
	 WHERE o.url LIKE '%/hang/300' AND a.error IS NULL}),
	'5', 'in one attempt each, none taken for a timeout');

# New messages for the webhook are not sent while it is held.
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT $hook, 'POST', 'http://127.0.0.1:$port/crm', '{"later":' || g || '}'
	  FROM generate_series(1, 3) g});
# (longer than the worker's restart delay, and ten times the lock_timeout)
sleep 2;
is(crm_requests(), 5, 'no new message of the webhook is sent while it is held, none twice');
is($node->safe_psql('postgres', qq{
	SELECT string_agg(status::text || ' ' || count, ', ' ORDER BY status)
	  FROM (SELECT status, count(*) FROM nextphone.outbox WHERE webhook_id = $hook GROUP BY status) s}),
	'pending 3, sending 5', 'the new ones wait in the queue');
is($node->safe_psql('postgres', qq{
	SELECT max(lease_until) > '$lease' FROM nextphone.outbox WHERE webhook_id = $hook AND status = 'sending'}),
	't', 'the waiting rows have their lease renewed');
ok(worker_not_stuck(), 'the worker does not wait for the lock: its loop goes on');

$editor->query_safe('COMMIT');
$editor->quit;

wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE webhook_id = $hook AND status = 'delivered'", '8',
	"all the webhook's messages are delivered once the edit is committed");
is(crm_requests(), 8, 'each sent once');
is($node->safe_psql('postgres', 'SELECT count(*) FROM nextphone.attempts'), '13',
	'one attempt each');
is($node->safe_psql('postgres',
		"SELECT consecutive_failures, last_success_at IS NOT NULL FROM nextphone.webhooks WHERE id = $hook"),
	'0|t', "the webhook's health is recorded");
is($node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()'), $pid,
	'the same worker throughout');
my $log = slurp_file($node->logfile);
unlike($log, qr/canceling statement due to lock timeout/, 'the worker never hit the lock timeout');
like($log, qr/LOG:  outcomes of \d+ requests wait to be recorded: another transaction holds their webhook or their message/,
	'the wait is logged');

# A session that locks a message being sent (or updates it) holds back the
# recording of its outcome in the same way, and of nothing else: other
# messages, its webhook's included, go on.
my $slow = add_webhook($node, tool_name => "'slow'", url => "'http://127.0.0.1:$port/hang/700'");
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/hang/300', '{}' FROM generate_series(1, 5)});
my $held = $node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook, vars) VALUES ('slow', '{}') RETURNING id});
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = $held", 'sending', 'a slow message in flight');
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe("SELECT id FROM nextphone.outbox WHERE id = $held FOR UPDATE");
sleep 2;
is($node->safe_psql('postgres', "SELECT status, attempts FROM nextphone.outbox WHERE id = $held"),
	'sending|0', 'its outcome waits while a session holds its row');
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/hang/301', '{}' FROM generate_series(1, 5);
	INSERT INTO nextphone.outbox (webhook, vars) SELECT 'slow', '{}' FROM generate_series(1, 3)});
wait_for($node, q{SELECT count(*) FROM nextphone.outbox WHERE url ~ '/hang/30[01]$' AND status = 'delivered' AND attempts = 1},
	'10', 'the other messages are delivered meanwhile, in one attempt each');
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE webhook_id = $slow AND status = 'delivered' AND attempts = 1",
	'3', "and so are the other messages of the held message's webhook");
ok(worker_not_stuck(), 'the worker does not wait for the row: its loop goes on');
$locker->query_safe('COMMIT');
$locker->quit;
wait_for($node, "SELECT status || ' ' || attempts FROM nextphone.outbox WHERE id = $held", 'delivered 1',
	'recorded once the session ends');
is(scalar(grep { $_->{path} eq '/hang/700' } @{ receiver_requests($port) }), 4, 'each sent once');
is($node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()'), $pid,
	'the same worker throughout');

# exit_on_error would turn the error that the outcome statement recovers
# from (an outcome it cannot take: here a constraint refuses status 418, see
# 031_unrecordable_outcome.pl) into the end of the worker; temp_file_limit,
# with a small work_mem, would fail the statement on a batch of 16 kB
# response bodies.
$node->safe_psql('postgres', q{
	ALTER DATABASE postgres RESET lock_timeout;
	ALTER DATABASE postgres SET exit_on_error = on;
	ALTER DATABASE postgres SET work_mem = '64kB';
	ALTER DATABASE postgres SET temp_file_limit = '100kB';
	ALTER TABLE nextphone.attempts ADD CONSTRAINT no_teapots CHECK (status_code IS DISTINCT FROM 418)});
$node->restart;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM nextphone.worker_status() WHERE state <> 'starting'"),
	'worker running again');
$pid = $node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()');
receiver_get($port, '/_clear');
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/' || CASE WHEN g <= 2 THEN 'status/418' ELSE 'big/16000' END, '{}'
	  FROM generate_series(1, 64) g});
wait_for($node, q{SELECT count(*) FROM nextphone.outbox WHERE url LIKE '%/big/16000' AND status = 'delivered'},
	'62', 'the 16 kB answers are delivered');
wait_for($node, q{SELECT count(*) FROM nextphone.outbox WHERE url LIKE '%/418' AND status = 'dead' AND attempts = 3},
	'2', 'the refused outcomes go through the schedule');
is(scalar @{ receiver_requests($port) }, 62 + 2 * 3, 'no message sent twice');
is($node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()'), $pid,
	'the same worker throughout');

# default_transaction_read_only turned on in postgresql.conf (maintenance):
# the worker records, claims and purges nothing meanwhile; the requests in
# flight finish and their outcomes wait in memory until the database is
# writable again.
receiver_get($port, '/_clear');
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/hang/500', '{}' FROM generate_series(1, 5)});
for (1 .. 300)
{
	last if scalar @{ receiver_requests($port) } >= 5;
	usleep(10_000);
}
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET default_transaction_read_only = on;
	SELECT pg_reload_conf()});
ok($node->poll_query_until('postgres',
		"SELECT state = 'waiting: read-only' FROM nextphone.worker_status()"),
	'the worker waits while the database is read-only');
# (the answers come after 500 ms)
sleep 1;
is($node->safe_psql('postgres', q{SELECT count(*) FROM nextphone.outbox WHERE url LIKE '%/hang/500' AND status = 'sending'}),
	'5', 'the outcomes of the requests in flight wait');
$node->safe_psql('postgres', q{
	SET default_transaction_read_only = off;
	ALTER SYSTEM RESET default_transaction_read_only;
	SELECT pg_reload_conf()});
wait_for($node, q{SELECT count(*) FROM nextphone.outbox WHERE url LIKE '%/hang/500' AND status = 'delivered' AND attempts = 1},
	'5', 'they are recorded once it is writable again');
is(scalar @{ receiver_requests($port) }, 5, 'nothing sent twice');
is($node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()'), $pid,
	'the same worker throughout');
$log = slurp_file($node->logfile);
like($log, qr/nextphone delivery worker waiting: database "postgres" is read-only.*nextphone delivery worker resuming: database "postgres" is writable/s,
	'both logged');
unlike($log, qr/cannot execute \w+ in a read-only transaction/, 'and no statement failed');

$node->stop;
done_testing();
