# Circuit breaker: after nextphone.circuit_failures consecutive failed
# attempts a webhook's circuit opens; its queued messages wait without
# spending attempts; one probe per interval; a success closes it.  The
# health view shows it.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('circuit', "nextphone.circuit_failures = 3",
	"nextphone.circuit_probe_interval = '400ms'");

add_webhook($node, tool_name => "'crm'", url => "'http://127.0.0.1:$port/switch/crm'",
	retry_schedule => q{'{0s,100ms}'}, max_attempts => 50);
receiver_get($port, '/_set/crm/500');
$node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks});
wait_for($node, "SELECT circuit_state FROM nextphone.webhook_health", 'open',
	'three failures open the circuit');

# Ten more messages queue behind the open circuit without attempts.
$node->safe_psql('postgres', q{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks, generate_series(1, 10)});
usleep(1_500_000);
is($node->safe_psql('postgres', 'SELECT sum(attempts) FROM nextphone.outbox WHERE id > 1'),
	'0', 'queued messages spend no attempts while the circuit is open');
my $probes = scalar @{ receiver_requests($port) };
ok($probes >= 4 && $probes <= 7, "only probes reach the endpoint ($probes requests in all)");
is($node->safe_psql('postgres',
		'SELECT queued + sending, consecutive_failures >= 3, last_error FROM nextphone.webhook_health'),
	'11|t|HTTP status 500', 'health view: queued, failures, last error');
like($node->safe_psql('postgres', 'SELECT health, health_reason FROM nextphone.webhook_health'),
	qr/^circuit open\|\d+ failed attempts in a row since .*; next probe at .*; last error: HTTP status 500$/,
	'health at a glance: circuit open, and why');

# The endpoint recovers: the next probe closes the circuit, all delivered.
receiver_get($port, '/_set/crm/200');
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", '11',
	'all delivered once a probe succeeds');
is($node->safe_psql('postgres',
		'SELECT circuit_state, consecutive_failures, delivered FROM nextphone.webhook_health'),
	'closed|0|11', 'circuit closed again');
is($node->safe_psql('postgres', 'SELECT health, health_reason IS NULL FROM nextphone.webhook_health'),
	'healthy|t', 'health at a glance: healthy');

# Rows the worker had already claimed when the circuit opened (waiting in
# its backlog for a free slot) are given back unsent: they spend no attempt.
# Two slots here, so that most of the 40 rows wait in the backlog.
$node->safe_psql('postgres', 'ALTER SYSTEM SET nextphone.max_concurrency = 2');
$node->reload;
usleep(500_000);
my $erp = add_webhook($node, tool_name => "'erp'", url => "'http://127.0.0.1:$port/switch/erp'",
	retry_schedule => q{'{0s,100ms}'}, max_attempts => 50);
receiver_get($port, '/_set/erp/500');
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks, generate_series(1, 40)
	 WHERE id = $erp});
wait_for($node, "SELECT circuit_state FROM nextphone.webhooks WHERE id = $erp", 'open',
	'a second webhook fails: its circuit opens');
usleep(1_000_000);
my ($spent, $untouched) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT sum(attempts), count(*) FILTER (WHERE attempts = 0)
	  FROM nextphone.outbox WHERE webhook_id = $erp});
# At most: outcomes not yet recorded when the circuit opened (a quarter of
# the 2 slots and 32 rows claimed ahead: 8), the 2 in flight, and a probe
# every 400 ms (3).  Sending the backlog would have spent 34 or more.
ok($spent <= 13, "the backlog is not sent once the circuit is open ($spent attempts)");
ok($untouched >= 27, "the rest of the 40 messages spent no attempt ($untouched)");

# Failures of requests in flight together open the circuit once: the first
# probe still comes one probe interval after it opened (it used to be
# pushed back by each of them, here to 27 minutes).
$node->safe_psql('postgres', 'ALTER SYSTEM SET nextphone.max_concurrency = 64');
$node->reload;
usleep(500_000);
my $burst = add_webhook($node, tool_name => "'burst'", url => "'http://127.0.0.1:$port/status/500'",
	retry_schedule => q{'{0s,1h}'});
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks, generate_series(1, 20)
	 WHERE id = $burst});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE webhook_id = $burst AND attempts > 0", '20',
	'twenty messages to a failing endpoint at once');
is($node->safe_psql('postgres', qq{
	SELECT circuit_state, next_probe_at - circuit_opened_at < interval '2 s'
	  FROM nextphone.webhooks WHERE id = $burst}),
	'open|t', 'the circuit is open, its first probe one interval away');

# A probe that takes longer than the probe interval is the only one in
# flight: the next comes after its failure, and each wait is as long as the
# circuit has been open (probes 1, 2, 4, 8 ... intervals after it opened).
receiver_get($port, '/_clear');
my $slow = add_webhook($node, tool_name => "'slowprobe'",
	url => "'http://127.0.0.1:$port/slow/1500/500'", timeout_ms => 5000,
	retry_schedule => q{'{0s,100ms}'}, max_attempts => 50);
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks, generate_series(1, 3)
	 WHERE id = $slow});
wait_for($node, "SELECT circuit_state <> 'closed' FROM nextphone.webhooks WHERE id = $slow", 't',
	'three slow failures open the circuit');
usleep(7_000_000);
my @t = map { $_->{t} } grep { $_->{path} =~ m{^/slow/} } @{ receiver_requests($port) };
my @probes = @t[3 .. $#t];
my @gaps = map { $probes[$_] - $probes[$_ - 1] } 1 .. $#probes;
ok(@probes >= 2 && @probes <= 4, scalar(@probes) . ' probes in 7 s');
ok(!grep({ $_ < 1.5 } @gaps), 'never two at once: ' . join(', ', map { sprintf('%.2f s', $_) } @gaps));

# A request sent before the circuit opened that fails while the probe is in
# flight is not taken for the probe's failure: no second probe goes then.
receiver_get($port, '/_clear');
receiver_get($port, '/_set/strag/500');
my $strag = add_webhook($node, tool_name => "'straggle'", url => "'http://127.0.0.1:$port/switch/strag'",
	timeout_ms => 5000, retry_schedule => q{'{0s,100ms}'}, max_attempts => 50);
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	SELECT id, 'POST', url, '{}' FROM nextphone.webhooks, generate_series(1, 3) WHERE id = $strag;
	INSERT INTO nextphone.outbox (webhook_id, method, url, body)
	VALUES ($strag, 'POST', 'http://127.0.0.1:$port/slow/1500/500', '{}')});
wait_for($node, "SELECT circuit_state FROM nextphone.webhooks WHERE id = $strag", 'open',
	'three quick failures open the circuit, a slow request still in flight');
receiver_get($port, '/_delay/strag/3000');
usleep(5_000_000);
my @probe_t = map { $_->{t} } grep { $_->{path} eq '/switch/strag' } @{ receiver_requests($port) };
shift @probe_t for 1 .. 3;
my @probe_gaps = map { $probe_t[$_] - $probe_t[$_ - 1] } 1 .. $#probe_t;
ok(@probe_t >= 1 && !grep({ $_ < 2.9 } @probe_gaps),
	scalar(@probe_t) . ' probe(s) of 3 s, never two at once: '
	  . join(', ', map { sprintf('%.2f s', $_) } @probe_gaps));
ok(grep({ $_->{path} eq '/slow/1500/500' } @{ receiver_requests($port) }) >= 1,
	'the slow request failed meanwhile');

$node->stop;
done_testing();
