# An outcome the outcome statement cannot take stops neither the other
# outcomes of its batch nor the worker.  Here a constraint the operator
# added to nextphone.attempts refuses status 418: the batch is recorded in
# parts, the 418 ones without their response (the error says why), and they
# go their way through the retry schedule to dead.  When even that is
# refused, only the outbox row is ended.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('unrecordable');
my $pid = $node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()');

my $wid = add_webhook($node, tool_name => "'teapot'", url => "'http://127.0.0.1:$port/ok'");
$node->safe_psql('postgres', q{
	ALTER TABLE nextphone.attempts ADD CONSTRAINT no_teapots CHECK (status_code <> 418)});
# One statement, so that the worker finds them all due at once; half of
# them the webhook's (whose health the batch keeps).
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT CASE WHEN g % 2 = 0 THEN $wid END, 'POST',
	       'http://127.0.0.1:$port' || CASE WHEN g % 10 = 0 THEN '/status/418' ELSE '/ok' END,
	       '{"n": ' || g || '}'
	  FROM generate_series(1, 40) g});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status IN ('delivered', 'dead')", '40',
	'all 40 messages end');

is($node->safe_psql('postgres', q{
	SELECT status, count(*) FROM nextphone.outbox GROUP BY status ORDER BY status}),
	"dead|4\ndelivered|36", 'the 36 others delivered, the 4 refused ones dead');
is($node->safe_psql('postgres', q{
	SELECT count(*), count(DISTINCT outbox_id), bool_and(status_code IS NULL),
	       bool_and(error LIKE 'the outcome could not be recorded: %no_teapots%')
	  FROM nextphone.attempts a JOIN nextphone.outbox o ON o.id = a.outbox_id
	 WHERE o.url LIKE '%/418'}),
	'12|4|t|t', 'each of their 3 attempts recorded without the response, saying why');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM nextphone.attempts a JOIN nextphone.outbox o ON o.id = a.outbox_id
	 WHERE o.url LIKE '%/ok' AND a.status_code = 200}),
	'36', 'the others recorded in full');
is($node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()'), $pid,
	'the worker never restarted');
like(slurp_file($node->logfile),
	qr/WARNING:  could not record the outcomes of \d+ requests in one statement: new row for relation "attempts" violates check constraint "no_teapots"/,
	'the log says why the batch was recorded in parts');
is($node->safe_psql('postgres', "SELECT last_success_at IS NOT NULL FROM nextphone.webhooks WHERE id = $wid"),
	't', "the webhook's health kept");

# Refused even without the response: the outbox row alone is ended, dead
# (or delivered, had it been), saying why; no attempts row.
$node->safe_psql('postgres', q{
	ALTER TABLE nextphone.attempts ADD CONSTRAINT no_bare
	  CHECK (error NOT LIKE 'the outcome could not be recorded%') NOT VALID});
my $last = $node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	VALUES ('POST', 'http://127.0.0.1:$port/status/418', '{}') RETURNING id});
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = $last", 'dead',
	'a message whose outcome cannot be recorded at all ends dead');
like($node->safe_psql('postgres', "SELECT attempts || ' ' || last_error FROM nextphone.outbox WHERE id = $last"),
	qr/^1 the outcome could not be recorded: .*"no_bare"/, 'after one attempt, saying why');
is($node->safe_psql('postgres', "SELECT count(*) FROM nextphone.attempts WHERE outbox_id = $last"),
	'0', 'with no attempts row');
is($node->safe_psql('postgres', 'SELECT pid FROM nextphone.worker_status()'), $pid,
	'the worker still never restarted');

$node->stop;
done_testing();
