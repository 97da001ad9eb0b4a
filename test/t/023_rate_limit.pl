# rate_limit_per_second: a webhook's deliveries are spread out.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('rate');

add_webhook($node, tool_name => "'limited'", url => "'http://127.0.0.1:$port/limited'",
	rate_limit_per_second => 10);
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks, generate_series(1, 20);
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/free', '{}' FROM generate_series(1, 20)});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", '40',
	'all delivered');

my @reqs = @{ receiver_requests($port) };
my @lim = map { $_->{t} } grep { $_->{path} eq '/limited' } @reqs;
my @free = map { $_->{t} } grep { $_->{path} eq '/free' } @reqs;
my $span = $lim[-1] - $lim[0];
ok($span >= 1.8, sprintf('20 messages at 10/s take about 2 s (%.2f s)', $span));
my $max = 0;
for my $i (0 .. $#lim)
{
	my $n = grep { $_ >= $lim[$i] && $_ < $lim[$i] + 1.0 } @lim;
	$max = $n if $n > $max;
}
ok($max <= 11, "at most 10 (+1 for rounding) in any second ($max)");
ok($free[-1] - $free[0] < $span, 'an unlimited endpoint is not slowed down');

$node->stop;
done_testing();
