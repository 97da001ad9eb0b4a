# TLS: a local HTTPS receiver whose certificate comes from a CA made here
# with openssl.  Without nextphone.ca_file the certificate is refused and
# the error recorded; with it the delivery arrives; a certificate for
# another host name is refused; a server that offers only TLS 1.1 is
# refused; nextphone.require_https stops plain http at send time.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use SecurityTest;
use Test::More;

my $tls = make_tls($PostgreSQL::Test::Utils::tmp_check);
my $node = start_node('tls', "nextphone.allowed_networks = '127.0.0.1/32'");

my $good = start_receiver(cert => $tls->{'good.pem'}, key => $tls->{'good.key'});
my $wrong = start_receiver(cert => $tls->{'wrong.pem'}, key => $tls->{'wrong.key'});
my $old = start_receiver(cert => $tls->{'good.pem'}, key => $tls->{'good.key'}, tls_max => '1.1');

# Queue one request; returns the outbox id.
sub send_to
{
	my ($url) = @_;
	return $node->safe_psql('postgres', qq{
		INSERT INTO nextphone.outbox (method, url, body)
		VALUES ('POST', '$url', '{"first_name": "John"}') RETURNING id});
}

# The first attempt's error, after stopping further retries.
sub first_error
{
	my ($id) = @_;
	wait_for_outbox($node, $id);
	$node->safe_psql('postgres', "SELECT nextphone.cancel($id)")
	  if $node->safe_psql('postgres', "SELECT status FROM nextphone.outbox WHERE id = $id") eq 'pending';
	my $error = $node->safe_psql('postgres',
		"SELECT error FROM nextphone.attempts WHERE outbox_id = $id ORDER BY attempt LIMIT 1");
	note("attempt error: $error");
	return $error;
}

# The system CAs do not know the test CA.
my $id = send_to("https://127.0.0.1:$good->{port}/hook");
like(first_error($id), qr/certificate/i, 'unknown CA: certificate error recorded');
is(scalar(() = received($good)), 0, 'nothing reached the receiver');

# Trust the test CA.
$node->safe_psql('postgres', "ALTER SYSTEM SET nextphone.ca_file = '$tls->{'ca.pem'}'");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('nextphone.ca_file') <> ''");
$id = send_to("https://127.0.0.1:$good->{port}/hook");
is(wait_for_outbox($node, $id), 'delivered', 'with nextphone.ca_file: delivered over TLS');
my ($req) = received($good);
is($req->{body}, '{"first_name": "John"}', 'the body arrived');

# A certificate for another name.
$id = send_to("https://127.0.0.1:$wrong->{port}/hook");
like(first_error($id), qr/(subject name|host name|hostname)/i, 'wrong host name refused');
is(scalar(() = received($wrong)), 0, 'nothing reached the wrong-name receiver');

# A server that speaks TLS 1.1 at most.
$id = send_to("https://127.0.0.1:$old->{port}/hook");
like(first_error($id), qr/(version|protocol|SSL|TLS)/i, 'TLS 1.1 server refused');
is(scalar(() = received($old)), 0, 'nothing reached the TLS 1.1 receiver');

# nextphone.require_https: a plain http row queued before the setting was
# turned on is refused at send time, once.
my $plain = start_receiver();
$node->safe_psql('postgres', 'ALTER SYSTEM SET nextphone.require_https = on');
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('nextphone.require_https') = 'on'");
$id = send_to("http://127.0.0.1:$plain->{port}/hook");
is(wait_for_outbox($node, $id), 'dead', 'plain http with require_https: dead');
is($node->safe_psql('postgres', "SELECT count(*) FROM nextphone.attempts WHERE outbox_id = $id"),
	'1', 'not retried');
like($node->safe_psql('postgres', "SELECT last_error FROM nextphone.outbox WHERE id = $id"),
	qr/require_https/, 'the reason names the setting');
is(scalar(() = received($plain)), 0, 'nothing was sent');

$node->stop;
done_testing();
