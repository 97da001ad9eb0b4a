# At-least-once across an immediate shutdown: pg_ctl stop -m immediate with
# 10,000 messages queued, then a start; nothing is lost.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('immediate', 'nextphone.max_concurrency = 128');
my $n = 10000;

$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/hang/10', '{"n":' || g || '}' FROM generate_series(1, $n) g});
ok($node->poll_query_until('postgres',
		"SELECT count(*) >= 500 FROM nextphone.outbox WHERE status = 'delivered'"),
	'deliveries under way');
$node->stop('immediate');
$node->start;
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", $n,
	'every message delivered after the restart');

my %body_of;
my $mismatch = 0;
for my $r (@{ receiver_requests($port) })
{
	my $id = $r->{headers}{'webhook-id'};
	$mismatch++ if exists $body_of{$id} && $body_of{$id} ne $r->{body};
	$body_of{$id} = $r->{body};
}
is(scalar(keys %body_of), $n, 'the receiver saw every message');
is($mismatch, 0, 'duplicates share webhook-id and body');
is($node->safe_psql('postgres', 'SELECT count(DISTINCT outbox_id) FROM nextphone.attempts'),
	$n, 'an attempts row for every message');

$node->stop;
done_testing();
