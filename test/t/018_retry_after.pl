# 429 and 503 with Retry-After: the next attempt comes then, bounded by the
# schedule step and twice it.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('retry_after');

# step 500 ms: Retry-After 1 s lies inside [500 ms, 1 s] and is honoured;
# Retry-After 30 s is cut to 1 s; Retry-After 0 is raised to 500 ms.
add_webhook($node, tool_name => "'limited'", url => "'http://127.0.0.1:$port/'",
	retry_schedule => q{'{0s,500ms}'}, max_attempts => 2);
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT w.id, 'POST', 'http://127.0.0.1:$port' || p, '{}'
	  FROM nextphone.webhooks w,
	       unnest(ARRAY['/retry-after/1', '/retry-after/30', '/unavailable/0']) p});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'dead'", '3',
	'all three dead after two attempts');

my %t;
push @{ $t{ $_->{path} } }, $_->{t} for @{ receiver_requests($port) };
my %want = ('/retry-after/1' => [ 1.0, 1.0 ], '/retry-after/30' => [ 1.0, 1.0 ],
	'/unavailable/0' => [ 0.5, 0.5 ]);
for my $p (sort keys %want)
{
	my $gap = $t{$p}[1] - $t{$p}[0];
	ok($gap >= $want{$p}[0] - 0.02 && $gap <= $want{$p}[1] + 0.3,
		sprintf('%s: second attempt after %.3f s (expected %.1f s)', $p, $gap, $want{$p}[0]));
}
is($node->safe_psql('postgres',
		"SELECT string_agg(DISTINCT status_code::text, ',') FROM nextphone.attempts"),
	'429,503', 'status codes recorded');

# A Retry-After that is neither a number of seconds nor an HTTP date is
# ignored: the schedule's step (500 ms, +-20%) applies.  "inf" and "1e400"
# are numbers to strtod(), and an infinite wait once made the statement that
# records outcomes fail, for the whole batch, again and again.
my @odd = ('/retry-after/inf', '/retry-after/1e400', '/retry-after/-5', '/retry-after/12abc');
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT w.id, 'POST', 'http://127.0.0.1:$port' || p, '{}'
	  FROM nextphone.webhooks w, unnest(ARRAY['} . join("', '", @odd) . qq{']) p});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'dead'", '7',
	'the four with an odd Retry-After dead after two attempts');
%t = ();
push @{ $t{ $_->{path} } }, $_->{t} for @{ receiver_requests($port) };
for my $p (@odd)
{
	my $gap = $t{$p}[1] - $t{$p}[0];
	ok($gap >= 0.4 - 0.02 && $gap <= 0.6 + 0.3,
		sprintf('%s: ignored, second attempt after %.3f s (the step: 0.4 to 0.6 s)', $p, $gap));
}

$node->stop;
done_testing();
