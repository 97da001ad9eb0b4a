# Settings that a database or a role gives its sessions do not break the
# delivery worker.  With lock_timeout set for the database (a common guard
# against long lock waits), a worker that has to wait for a webhook's row,
# locked by a session that is editing it, waits and then records its
# outcomes.  It does not fail, restart and send the batch again.
# (statement_timeout does not apply to a background worker's statements.)
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('settings');
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

# A session edits the webhook and keeps its transaction open.
my $editor = $node->background_psql('postgres');
$editor->query_safe('BEGIN');
$editor->query_safe("UPDATE nextphone.webhooks SET description = 'being edited' WHERE id = $hook");

$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT $hook, 'POST', 'http://127.0.0.1:$port/crm', '{"n":' || g || '}'
	  FROM generate_series(1, 5) g});
ok($node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE pid = $pid AND wait_event_type = 'Lock'}),
	"the worker waits for the webhook's row to record the outcomes");
# ten times the timeout
sleep 1;
is(receiver_get($port, '/_count'), '5', 'each message sent once while it waits');
$editor->query_safe('COMMIT');
$editor->quit;

wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", '5',
	'all delivered once the edit is committed');
is(receiver_get($port, '/_count'), '5', 'no message sent twice');
is($node->safe_psql('postgres', 'SELECT count(*) FROM nextphone.attempts'), '5',
	'one attempt each');
is($node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()'), $pid,
	'the same worker throughout');
unlike(slurp_file($node->logfile), qr/canceling statement due to lock timeout/,
	'the worker never hit the timeout');

$node->stop;
done_testing();
