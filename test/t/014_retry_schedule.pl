# Failed attempts are retried on the webhook's schedule (entry k is the
# wait before attempt k + 1, with 20% jitter either way); max_attempts
# beyond the schedule repeats its last entry; then the message is dead.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('schedule');

add_webhook($node,
	tool_name => "'flaky'",
	url => "'http://127.0.0.1:$port/status/500'",
	retry_schedule => q{'{0s,300ms,600ms,900ms}'},
	max_attempts => 6);
$node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks});
wait_for($node, "SELECT status = 'dead' FROM nextphone.outbox", 't', 'dead in the end');

is($node->safe_psql('postgres', 'SELECT attempts, last_status_code FROM nextphone.outbox'),
	'6|500', 'six attempts (max_attempts), last status kept');
is($node->safe_psql('postgres',
		'SELECT string_agg(attempt::text, \',\' ORDER BY attempt) FROM nextphone.attempts'),
	'1,2,3,4,5,6', 'one attempts row per attempt');
like($node->safe_psql('postgres', 'SELECT health, health_reason FROM nextphone.webhook_health'),
	qr/^degraded\|6 failed attempts in a row since .*; last error: HTTP status 500$/,
	'health at a glance: degraded, and why');

# The receiver's arrival times: gaps follow the schedule within the jitter
# (plus a little for the work between attempts).
my @t = map { $_->{t} } @{ receiver_requests($port) };
is(scalar @t, 6, 'six requests arrived');
my @want = (0.3, 0.6, 0.9, 0.9, 0.9);
for my $i (0 .. 4)
{
	my $gap = $t[ $i + 1 ] - $t[$i];
	ok($gap >= $want[$i] * 0.8 - 0.01 && $gap <= $want[$i] * 1.2 + 0.25,
		sprintf('wait before attempt %d is %.3f s, schedule says %.1f s +-20%%', $i + 2, $gap, $want[$i]));
}

# Without a schedule of its own: nextphone.retry_schedule (here 0s,100ms,200ms:
# three attempts).
$node->safe_psql('postgres',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', 'http://127.0.0.1:$port/status/502', '{}')");
wait_for($node, "SELECT status = 'dead' FROM nextphone.outbox WHERE url LIKE '%502'", 't',
	'ad-hoc message dead after the default schedule');
is($node->safe_psql('postgres', "SELECT attempts FROM nextphone.outbox WHERE url LIKE '%502'"),
	'3', 'the default schedule has three entries, so three attempts');

# A success after failures: delivered, and the attempts show the history.
$node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (method, url, body)
	VALUES ('POST', 'http://127.0.0.1:} . $port . q{/switch/later', '{}')});
receiver_get($port, '/_set/later/503');
wait_for($node, "SELECT attempts >= 1 FROM nextphone.outbox WHERE url LIKE '%later'", 't',
	'first attempt failed');
receiver_get($port, '/_set/later/200');
wait_for($node, "SELECT status FROM nextphone.outbox WHERE url LIKE '%later'", 'delivered',
	'delivered on a later attempt');

# Entry 0 is the wait before the first attempt: a schedule that begins with
# 1s holds a new message for 1 s (+-20%) before it is first sent.
add_webhook($node,
	tool_name => "'patient'",
	url => "'http://127.0.0.1:$port/patient'",
	retry_schedule => q{'{1s,100ms}'});
my $before = Time::HiRes::time();
$node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks WHERE tool_name = 'patient'});
like($node->safe_psql('postgres', q{
	SELECT status, next_attempt_at - created_at BETWEEN interval '800ms' AND interval '1200ms'
	  FROM nextphone.outbox WHERE webhook = 'patient'}),
	qr/^pending\|t$/, 'queued with its first attempt due 1 s later');
wait_for($node, "SELECT status FROM nextphone.outbox WHERE webhook = 'patient'", 'delivered',
	'then delivered');
my ($first) = grep { $_->{path} eq '/patient' } @{ receiver_requests($port) };
my $waited = $first->{t} - $before;
ok($waited >= 0.75, sprintf('the first request arrived %.3f s after the insert', $waited));

# A malformed schedule is refused when set, and the one in force stays.
for my $bad ('0s, nan s', '0s, inf s', '0s, 400d', '5', '-1s', '')
{
	my ($rc, $out, $err) = $node->psql('postgres',
		"ALTER SYSTEM SET nextphone.retry_schedule = '$bad'");
	like($err, qr/invalid value for parameter "nextphone.retry_schedule".*\n.*at most 365 days/,
		"'$bad' is refused");
}

$node->stop;
done_testing();
