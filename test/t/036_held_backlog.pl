# One webhook's backlog holds back no other.  The worker claims the due
# rows of each webhook (and of the ad-hoc requests) from that group's own
# range of an index, the groups in turn.  So the backlog of a disabled
# webhook, or of one whose circuit is open, costs the other deliveries
# nothing (the claim used to walk past all of it, every time), and the long
# backlog of a healthy webhook does not make another webhook's new messages
# wait behind it.  The cost is read from pg_stat_statements (blocks a
# statement touched), not timed.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('held_backlog',
	"shared_preload_libraries = 'nextphone, pg_stat_statements'",
	'pg_stat_statements.track = all',
	'nextphone.max_concurrency = 4');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_stat_statements');

sub webhook
{
	my ($name, %col) = @_;
	return add_webhook($node,
		tool_name => "'$name'",
		url => "'http://127.0.0.1:$port/$name'",
		%col);
}

sub queue_for
{
	my ($wid, $n) = @_;
	$node->safe_psql('postgres', qq{
		INSERT INTO nextphone.outbox (webhook_id, webhook, method, url, body)
		SELECT w.id, w.tool_name, 'POST', w.url, '{}'
		  FROM nextphone.webhooks w, generate_series(1, $n) WHERE w.id = $wid});
}

# 1. 20,000 messages wait for a disabled webhook and 20,000 for one whose
# circuit is open (its next probe far away); then ad-hoc requests and a
# healthy webhook's messages.
my $down = webhook('down', enabled => 'false');
my $open = webhook('open', circuit_state => "'open'",
	next_probe_at => "now() + interval '1 day'");
my $up = webhook('up');
queue_for($down, 20000);
queue_for($open, 20000);
$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/adhoc', '{}' FROM generate_series(1, 200)});
queue_for($up, 200);
wait_for($node, qq{
	SELECT count(*) = 400 FROM nextphone.outbox
	 WHERE status = 'delivered' AND (webhook_id IS NULL OR webhook_id = $up)},
	't', 'the ad-hoc requests and the healthy webhook delivered');
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM nextphone.outbox WHERE webhook_id IN ($down, $open) AND status = 'pending'}),
	'40000', 'the held webhooks\' messages wait, none sent');

# What the claims and the search for the next due time cost, per run: a
# few pages, not the 40,000 held rows.
my $cost = $node->safe_psql('postgres', q{
	SELECT string_agg(k || ' ' || calls || ' ' || blocks, ',' ORDER BY k) FROM (
	  SELECT CASE WHEN query LIKE '%UPDATE nextphone.outbox o%' THEN 'claim' ELSE 'next_due' END AS k,
	         sum(calls) AS calls,
	         round(sum(shared_blks_hit + shared_blks_read) / sum(calls)) AS blocks
	    FROM pg_stat_statements
	   WHERE query LIKE 'WITH RECURSIVE active%'
	   GROUP BY 1) s});
note "calls and blocks per call: $cost";
my %blocks = map { (split / /)[0] => (split / /)[2] } split /,/, $cost;
ok(defined $blocks{claim} && $blocks{claim} < 1000,
	"a claim touches a few pages ($blocks{claim} on average), not the held backlog");
ok(!defined $blocks{next_due} || $blocks{next_due} < 1000,
	'so does the search for the next due time ('
	  . ($blocks{next_due} // 'not run') . ' on average)');

# 2. A healthy webhook with a backlog of 2,000, queued first, and another's
# 10 messages queued after them: the ten do not wait for the 2,000.
my $big = webhook('backlog');
my $small = webhook('later');
queue_for($big, 2000);
queue_for($small, 10);
wait_for($node,
	"SELECT count(*) = 10 FROM nextphone.outbox WHERE webhook_id = $small AND status = 'delivered'",
	't', 'the later webhook\'s messages delivered');
my $big_done = $node->safe_psql('postgres',
	"SELECT count(*) FROM nextphone.outbox WHERE webhook_id = $big AND status = 'delivered'");
cmp_ok($big_done, '<', 1000,
	"meanwhile the first webhook's backlog was not worked through ($big_done of 2,000 delivered)");
wait_for($node,
	"SELECT count(*) = 2000 FROM nextphone.outbox WHERE webhook_id = $big AND status = 'delivered'",
	't', 'then its backlog delivered');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM nextphone.attempts a JOIN nextphone.outbox o ON o.id = a.outbox_id WHERE o.webhook_id IN ($big, $small)"),
	'2010', 'one attempt each');

# 3. An ordered webhook whose endpoint is down: its circuit is open, with
# 20,000 messages behind the head.  Before each claim the worker looks for
# the head of every ordered webhook's queue (the oldest queued message): one
# index descent, not a read of the backlog.  Meanwhile a healthy ordered
# webhook's 100 messages go one at a time, each claim looking for its head.
my $fifo_down = webhook('fifo_down', ordered => 'true', circuit_state => "'open'",
	next_probe_at => "now() + interval '1 day'");
queue_for($fifo_down, 20000);
my $fifo = webhook('fifo', ordered => 'true');
$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
queue_for($fifo, 100);
wait_for($node,
	"SELECT count(*) = 100 FROM nextphone.outbox WHERE webhook_id = $fifo AND status = 'delivered'",
	't', 'the healthy ordered webhook\'s messages delivered');
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM nextphone.outbox WHERE webhook_id = $fifo_down AND status = 'pending'}),
	'20000', 'the held ordered webhook\'s messages wait, none sent');
$cost = $node->safe_psql('postgres', q{
	SELECT string_agg(k || ' ' || calls || ' ' || blocks, ',' ORDER BY k) FROM (
	  SELECT CASE WHEN query LIKE 'WITH RECURSIVE active%' THEN 'next_due' ELSE 'heads' END AS k,
	         sum(calls) AS calls,
	         round(sum(shared_blks_hit + shared_blks_read) / sum(calls)) AS blocks
	    FROM pg_stat_statements
	   WHERE (query LIKE 'SELECT w.id,%' AND query LIKE '%ORDER BY h.id LIMIT%')
	      OR (query LIKE 'WITH RECURSIVE active%' AND query NOT LIKE '%UPDATE nextphone.outbox o%')
	   GROUP BY 1) s});
note "calls and blocks per call: $cost";
%blocks = map { (split / /)[0] => (split / /)[2] } split /,/, $cost;
ok(defined $blocks{heads} && $blocks{heads} < 500,
	"the search for the ordered webhooks' heads touches a few pages ("
	  . ($blocks{heads} // 'not run') . ' on average), not the held backlog');
ok(defined $blocks{next_due} && $blocks{next_due} < 500,
	'so does the search for the next due time ('
	  . ($blocks{next_due} // 'not run') . ' on average)');

$node->stop;
done_testing();
