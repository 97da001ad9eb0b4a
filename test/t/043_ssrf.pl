# The SSRF guard in the delivery worker: a name that resolves to a loopback
# address is refused at connect time, recorded as one failed attempt and not
# retried; numeric host forms are refused before any connection;
# nextphone.allowed_networks lets a listed network through; a redirect is
# never followed, to an allowed host or a forbidden one.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use SecurityTest;
use Test::More;

my $node = start_node('ssrf');
my $recv = start_receiver();
my $port = $recv->{port};

sub send_to
{
	my ($url) = @_;
	return $node->safe_psql('postgres', qq{
		INSERT INTO nextphone.outbox (method, url, body)
		VALUES ('POST', '$url', '{"n": 1}') RETURNING id});
}

sub row
{
	my ($id) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT status, attempts, (SELECT count(*) FROM nextphone.attempts a WHERE a.outbox_id = o.id),
		       last_error
		  FROM nextphone.outbox o WHERE id = $id});
}

# "localhost" is a name: only the resolved address shows it is loopback.
my $id = send_to("http://localhost:$port/hook");
is(wait_for_outbox($node, $id), 'dead', 'name resolving to loopback: dead');
my ($status, $attempts, $rows, $error) = split /\|/, row($id);
is("$attempts/$rows", '1/1', 'one attempt recorded, no retry');
like($error, qr/^refused to connect to (127\.0\.0\.1|::1): loopback address/,
	'the attempt says which address was refused and why');

# Numeric spellings of 127.0.0.1 and of the cloud metadata address.  The
# URL check may refuse them when they are queued; if it lets them into the
# queue, the worker refuses them before connecting.  Either way: one
# refusal, no retry, nothing sent.
sub refused
{
	my ($url, $pattern) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', qq{
		INSERT INTO nextphone.outbox (method, url, body)
		VALUES ('POST', '$url', '{"n": 1}') RETURNING id});
	if ($ret != 0)
	{
		like($err, $pattern, "$url: refused when queued");
		return;
	}
	is(wait_for_outbox($node, $out), 'dead', "$url: dead");
	my (undef, $attempts, undef, $error) = split /\|/, row($out);
	like($error, $pattern, "$url: refused at send time");
	is($attempts, 1, "$url: not retried");
}
refused($_, qr/(loopback|cloud metadata) address/)
  for ("http://2130706433:$port/", "http://0x7f.1:$port/",
	"http://[::ffff:127.0.0.1]:$port/", "http://2852039166/latest/meta-data/");
is(scalar(() = received($recv)), 0, 'the receiver got nothing');

# Allow the loopback address the receiver listens on.
$node->safe_psql('postgres', "ALTER SYSTEM SET nextphone.allowed_networks = '127.0.0.1/32'");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('nextphone.allowed_networks') <> ''");
$id = send_to("http://127.0.0.1:$port/hook");
is(wait_for_outbox($node, $id), 'delivered', 'allowed network: delivered');
is(scalar(() = received($recv)), 1, 'the receiver got it');

# The worker keeps its connections open for reuse; narrowing the setting
# shuts down the ones it no longer allows.  ("localhost" is a name: its URL
# passes the check at insert, and its address is checked at connect time.)
$id = send_to("http://localhost:$port/first");
is(wait_for_outbox($node, $id), 'delivered', 'allowed network, by name: delivered');
is(scalar(() = received($recv)), 2, 'the receiver got it');
$node->safe_psql('postgres', "ALTER SYSTEM RESET nextphone.allowed_networks");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('nextphone.allowed_networks') = ''");
$node->poll_query_until('postgres',
	"SELECT last_cycle_at > pg_conf_load_time() FROM nextphone.worker_status()");
$id = send_to("http://localhost:$port/again");
is(wait_for_outbox($node, $id), 'dead', 'allowed no more: dead');
like((split /\|/, row($id))[3], qr/^refused to connect to (127\.0\.0\.1|::1): loopback address/,
	'refused at connect time, not sent over the kept connection');
is(scalar(() = received($recv)), 2, 'the receiver got nothing more');
$node->safe_psql('postgres', "ALTER SYSTEM SET nextphone.allowed_networks = '127.0.0.1/32'");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('nextphone.allowed_networks') <> ''");

# 127.0.0.2 is loopback too, but not listed.
my $other = start_receiver(bind => '127.0.0.2');
refused("http://127.0.0.2:$other->{port}/hook", qr/loopback address/);
is(scalar(() = received($other)), 0, 'the unlisted receiver got nothing');

# Redirects: neither to an allowed host nor to a forbidden one.
my $target_ok = start_receiver();
my $target_bad = start_receiver(bind => '127.0.0.2');
for my $case ([ 'allowed', $target_ok, '127.0.0.1' ], [ 'forbidden', $target_bad, '127.0.0.2' ])
{
	my ($what, $target, $host) = @$case;
	my $redirector = start_receiver(status => 302,
		redirect => "http://$host:$target->{port}/stolen");
	$id = send_to("http://127.0.0.1:$redirector->{port}/hook");
	wait_for_outbox($node, $id);
	$node->safe_psql('postgres', "SELECT nextphone.cancel($id)")
	  if $node->safe_psql('postgres', "SELECT status FROM nextphone.outbox WHERE id = $id") eq 'pending';
	is($node->safe_psql('postgres',
			"SELECT status_code FROM nextphone.attempts WHERE outbox_id = $id ORDER BY attempt LIMIT 1"),
		'302', "redirect to the $what host: the 302 is the attempt's result");
	isnt($node->safe_psql('postgres', "SELECT status FROM nextphone.outbox WHERE id = $id"),
		'delivered', "redirect to the $what host: not delivered");
	is(scalar(() = received($target)), 0, "redirect to the $what host: not followed");
}

$node->stop;
done_testing();
