# Signed deliveries end to end: the receiver checks the Standard Webhooks
# signature with its own code (Python's hmac), over the exact bytes it got;
# during a rotation both secrets sign; an unsigned webhook still sends
# webhook-id; many webhooks' secrets in turn each sign their own.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use Encode qw(encode_utf8);
use PostgreSQL::Test::Utils;
use SecurityTest;
use Test::More;

my $node = start_node('signed', "nextphone.allowed_networks = '127.0.0.1/32'");

my $old = $node->safe_psql('postgres', 'SELECT nextphone.generate_secret()');
my $other = $node->safe_psql('postgres', 'SELECT nextphone.generate_secret()');
my $recv = start_receiver(secret => [ $old, $other ]);
my $url = "http://127.0.0.1:$recv->{port}/hook";

# The guide's webhook, signed, and the same unsigned.
for my $hook ([ 'signedHook', qq{, "signing_secret": "$old"} ], [ 'plainHook', '' ])
{
	$node->safe_psql('postgres', qq{
		SELECT nextphone.create_webhook('{
		  "type": "http", "tool_name": "$hook->[0]", "http_method": "POST",
		  "url": "$url",
		  "headers": {"Content-Type": "application/json"},
		  "body_template": {"first_name": "{{first_name}}", "notes": "{{message}}",
		                    "budget": "{{budget}}", "source": "NextPhone AI"},
		  "parameters": [{"name": "first_name", "type": "string"},
		                 {"name": "message", "type": "string"},
		                 {"name": "budget", "type": "number"}]$hook->[1]
		}')});
}

# Values with characters that must survive byte for byte.
sub enqueue
{
	my ($tool) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT nextphone.enqueue('$tool',
		  '{"first_name": "Zoë", "message": "say \\"hi\\" \\\\ 😀", "budget": 5000}')});
}

my $id = enqueue('signedHook');
is(wait_for_outbox($node, $id), 'delivered', 'signed delivery delivered');
my $msg_id = $node->safe_psql('postgres', "SELECT msg_id FROM nextphone.outbox WHERE id = $id");

my @got = received($recv);
is(scalar @got, 1, 'one request');
my $req = $got[0];
is(encode_utf8($req->{body}),
	$node->safe_psql('postgres', "SELECT body FROM nextphone.outbox WHERE id = $id"),
	'body arrived byte for byte');
like($req->{body}, qr/"budget": ?5000/, 'the body is the rendered template');
is($req->{headers}{'webhook-id'}, $msg_id, 'webhook-id is the message id');
like($req->{headers}{'webhook-timestamp'}, qr/^\d+$/, 'webhook-timestamp is unix seconds');
cmp_ok(abs(time() - $req->{headers}{'webhook-timestamp'}), '<', 60, 'timestamp is the send time');
like($req->{headers}{'webhook-signature'}, qr/^v1,[A-Za-z0-9+\/]{43}=$/, 'one v1 signature');
is_deeply($req->{verified}, [ JSON::PP::true, JSON::PP::false ],
	'the receiver verifies it with the secret, not with another one');

# The SQL verifier agrees with the receiver, on the headers the receiver
# got and the body as queued (the same bytes, checked above).
my $headers = JSON::PP->new->encode({
	map { $_ => "$req->{headers}{$_}" } qw(webhook-id webhook-timestamp webhook-signature) });
is($node->safe_psql('postgres',
		"SELECT nextphone.verify_signature('$old', '$headers', body) FROM nextphone.outbox WHERE id = $id"),
	't', 'verify_signature() accepts what was delivered');

# Rotation: both secrets sign until the grace period ends.
my $new = $node->safe_psql('postgres', "SELECT nextphone.rotate_secret('signedHook')");
my $recv2 = start_receiver(secret => [ $old, $new ]);
$node->safe_psql('postgres',
	"UPDATE nextphone.webhooks SET url = 'http://127.0.0.1:$recv2->{port}/hook' WHERE tool_name = 'signedHook'");
$id = enqueue('signedHook');
is(wait_for_outbox($node, $id), 'delivered', 'delivered during the rotation');
($req) = received($recv2);
like($req->{headers}{'webhook-signature'}, qr/^v1,\S{44} v1,\S{44}$/, 'two signatures');
is_deeply($req->{verified}, [ JSON::PP::true, JSON::PP::true ],
	'a receiver with either the old or the new secret accepts it');

# After the grace period only the new secret signs.
$node->safe_psql('postgres',
	"UPDATE nextphone.webhooks SET previous_secret_until = now() - interval '1 second' WHERE tool_name = 'signedHook'");
$id = enqueue('signedHook');
is(wait_for_outbox($node, $id), 'delivered', 'delivered after the rotation');
(undef, $req) = received($recv2);
is_deeply($req->{verified}, [ JSON::PP::false, JSON::PP::true ], 'only the new secret signs');

# A webhook without a secret: webhook-id, no signature.
$id = enqueue('plainHook');
is(wait_for_outbox($node, $id), 'delivered', 'unsigned delivery delivered');
(undef, $req) = received($recv);
ok(defined $req->{headers}{'webhook-id'}, 'webhook-id sent unsigned too');
ok(!defined $req->{headers}{'webhook-signature'}, 'no signature without a secret');

# The worker keeps the prepared keys of the last eight secrets it signed
# with. Twelve webhooks, each with a secret of its own, delivering in turn,
# twice: the second round finds the first keys pushed out, and each delivery
# is still signed with its own webhook's secret, and only with it.
my @secrets = map { $node->safe_psql('postgres', 'SELECT nextphone.generate_secret()') } 0 .. 11;
my $recv3 = start_receiver(secret => \@secrets);
for my $i (0 .. 11)
{
	$node->safe_psql('postgres', qq{
		SELECT nextphone.create_webhook('{
		  "type": "http", "tool_name": "many$i", "http_method": "POST",
		  "url": "http://127.0.0.1:$recv3->{port}/many/$i",
		  "body_template": {"first_name": "{{first_name}}"},
		  "parameters": [{"name": "first_name", "type": "string"}],
		  "signing_secret": "$secrets[$i]"
		}')});
}
for my $round (1, 2)
{
	my @ids = map { enqueue("many$_") } 0 .. 11;
	my @status = map { wait_for_outbox($node, $_) } @ids;
	is_deeply(\@status, [ ('delivered') x 12 ], "round $round: twelve webhooks delivered");
}
my @many = received($recv3);
is(scalar @many, 24, 'twenty-four requests');
my @wrong = grep {
	my ($i) = $_->{path} =~ m{/many/(\d+)$};
	my @want = map { $_ == $i ? JSON::PP::true : JSON::PP::false } 0 .. 11;
	!defined $i || JSON::PP->new->canonical->encode($_->{verified}) ne JSON::PP->new->encode(\@want);
} @many;
is(scalar @wrong, 0, "each signed with its own webhook's secret alone");

$node->stop;
done_testing();
