# The statement that records outcomes finds each outcome's row by its id,
# through the outbox's primary key, however large the outbox and whatever
# its statistics said when the statement was planned.  A plan that reads the
# whole outbox would do so for every batch of outcomes: each delivery would
# cost as much as the queue is long.  The plans are read from the server log
# (auto_explain), not timed.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('plans',
	"shared_preload_libraries = 'nextphone, auto_explain'",
	'auto_explain.log_min_duration = 0',
	'auto_explain.log_nested_statements = on',
	# no ANALYZE, and so no new plan, while the queue grows
	'autovacuum = off');

# A few messages one by one: the worker plans the statement while the outbox
# is small (its first plans are custom, then it keeps a generic one).
for my $i (1 .. 8)
{
	$node->safe_psql('postgres', qq{
		INSERT INTO nextphone.outbox (method, url, body)
		VALUES ('POST', 'http://127.0.0.1:$port/small/$i', '{}')});
	wait_for($node,
		"SELECT count(*) = $i FROM nextphone.outbox WHERE status = 'delivered'",
		't', "message $i of the small queue delivered");
}

# Then a backlog of 3,000 rows, queued in one transaction.
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/backlog', '{}' FROM generate_series(1, 3000)});
wait_for($node,
	"SELECT count(*) = 3008 FROM nextphone.outbox WHERE status = 'delivered'",
	't', 'the backlog delivered');
is($node->safe_psql('postgres', 'SELECT count(*) FROM nextphone.attempts'),
	'3008', 'one attempt each');

# Every plan of the outcome statement that auto_explain logged.
my @plans = grep { /Query Text: WITH r AS/ }
  split /^(?=\S.*LOG:  duration: )/m, slurp_file($node->logfile);
cmp_ok(scalar @plans, '>=', 10, 'the outcome statement ran for every batch ('
	  . scalar(@plans) . ' plans logged)');
my @scans = grep { /Seq Scan on outbox/ } @plans;
is(scalar @scans, 0, 'none of its plans reads the whole outbox')
  or diag($scans[0]);
ok(!(grep { !/Index Scan using outbox_pkey on outbox/ } @plans),
	'each looks rows up through the primary key');

$node->stop;
done_testing();
