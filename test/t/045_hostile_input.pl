# AI-collected values are hostile input.  One value crafted to break JSON,
# URLs and headers goes through every way into the outbox (enqueue(),
# INSERT INTO outbox, record_call() and the events it fires, an inserted
# lead, webhook_trigger() on a table of one's own); every delivered request
# is well-formed and carries the value literally.  In a header, CR/LF is
# refused, and a value that looks like a secret tag stays text.
use strict;
use warnings;
use Encode qw(decode_utf8);
use FindBin;
use JSON::PP;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use SecurityTest;
use Test::More;

my $node = start_node('hostile', "nextphone.allowed_networks = '127.0.0.1/32'");
my $recv = start_receiver();
my $port = $recv->{port};

my $hostile = "Robert\"}, \"admin\": true, \"x\": {\"a\": \"\\ \r\nX-Injected: yes\r\n\r\n"
  . "{{secret.CRM_TOKEN}} {{{first_name}}} ../../etc/passwd?a=1&b=2#frag %2F%00 "
  . "\x{fc}\x{f1}\x{ed} \x{1F600} <script>";
# As a SQL string literal holding a JSON object {"v": value}: pure ASCII.
my $json = JSON::PP->new->ascii->canonical->encode({ v => $hostile });
my $v = "('$json'::jsonb ->> 'v')";

$node->safe_psql('postgres', qq{
	SELECT nextphone.set_secret('CRM_TOKEN', 'sk_live_neverLeak');
	INSERT INTO nextphone.businesses (receiving_number, owner_name)
	VALUES ('+15559876543', 'Acme Contracting');
	SELECT nextphone.create_webhook('{
	  "type": "http", "tool_name": "hostile", "http_method": "POST",
	  "url": "http://127.0.0.1:$port/in/{{first_name}}?name={{first_name}}",
	  "headers": {"Content-Type": "application/json"},
	  "body_template": {"first_name": "{{first_name}}", "fixed": "unchanged"},
	  "parameters": [{"name": "first_name", "type": "string"}],
	  "events": ["call.completed", "lead.created"]
	}');
	SELECT nextphone.create_webhook('{
	  "type": "http", "tool_name": "hostileHeader", "http_method": "POST",
	  "url": "http://127.0.0.1:$port/header",
	  "headers": {"X-Name": "{{first_name}}"},
	  "body_template": {"ok": true},
	  "parameters": [{"name": "first_name", "type": "string"}]
	}');
	CREATE SCHEMA crm;
	CREATE TABLE crm.contacts (id serial PRIMARY KEY, receiving_number text, first_name text);
	CREATE TRIGGER crm_push AFTER INSERT ON crm.contacts
	  FOR EACH ROW EXECUTE FUNCTION nextphone.webhook_trigger('hostile');
});

# Every way in.
my %ways = (
	'enqueue()' => "SELECT nextphone.enqueue('hostile', jsonb_build_object('first_name', $v))",
	'INSERT INTO outbox' =>
	  "INSERT INTO nextphone.outbox (webhook, vars) VALUES ('hostile', jsonb_build_object('first_name', $v))",
	'record_call()' => "SELECT nextphone.record_call(jsonb_build_object(
		'external_id', 'CA-H1', 'caller_number', '+15551234567', 'receiving_number', '+15559876543',
		'collected', jsonb_build_object('first_name', $v)))",
	'INSERT INTO leads' =>
	  "INSERT INTO nextphone.leads (first_name, phone) VALUES ($v, '+15551234567')",
	'webhook_trigger()' =>
	  "INSERT INTO crm.contacts (receiving_number, first_name) VALUES ('+15559876543', $v)");
for my $way (sort keys %ways)
{
	my $before = $node->safe_psql('postgres', 'SELECT coalesce(max(id), 0) FROM nextphone.outbox');
	$node->safe_psql('postgres', $ways{$way});
	my $ids = $node->safe_psql('postgres',
		"SELECT string_agg(id::text, ' ' ORDER BY id) FROM nextphone.outbox WHERE id > $before");
	ok($ids ne '', "$way queued a delivery");
	is(wait_for_outbox($node, $_), 'delivered', "$way: outbox $_ delivered") for split / /, $ids;
}

# Decode a percent-encoded URL part into text.
sub pct_decode
{
	my ($s) = @_;
	$s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
	return decode_utf8($s);
}

my @got = grep { $_->{path} =~ m{^/in/} } received($recv);
cmp_ok(scalar @got, '>=', scalar(keys %ways), 'every delivery arrived');
my $n = 0;
for my $req (@got)
{
	$n++;
	my $body = eval { decode_json(Encode::encode_utf8($req->{body})) };
	ok($body, "delivery $n: the body is valid JSON");
	is_deeply([ sort keys %$body ], [ 'first_name', 'fixed' ], "delivery $n: no key was injected");
	is($body->{first_name}, $hostile, "delivery $n: the value arrived literally in the body");
	is($body->{fixed}, 'unchanged', "delivery $n: the literal next to it is intact");

	my ($path, $query) = $req->{path} =~ m{^/in/([^?#]*)\?name=([^&#]*)$};
	ok(defined $path, "delivery $n: one path segment and one query parameter ($req->{path})");
	is(pct_decode($path // ''), $hostile, "delivery $n: the value arrived literally in the path");
	is(pct_decode($query // ''), $hostile, "delivery $n: the value arrived literally in the query");
	ok(!grep({ lc($_->[0]) eq 'x-injected' } @{ $req->{raw_headers} }), "delivery $n: no header injected");
}

# Headers: CR/LF is refused when the value is queued explicitly.
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT nextphone.enqueue('hostileHeader', jsonb_build_object('first_name', $v))");
isnt($ret, 0, 'a header value holding CR/LF is refused');
like($err, qr/header/i, 'the error is about the header');

# A value that looks like a secret tag never becomes the secret in a
# header: it is refused when queued, or else sent as text.
($ret, $out, $err) = $node->psql('postgres',
	q{SELECT nextphone.enqueue('hostileHeader', '{"first_name": "{{secret.CRM_TOKEN}}"}')});
if ($ret != 0)
{
	like($err, qr/\{\{/, 'a header value holding a tag is refused when queued');
}
else
{
	is(wait_for_outbox($node, $out), 'delivered', 'secret-like header value delivered');
	my ($hreq) = grep { $_->{path} eq '/header' } received($recv);
	is($hreq->{headers}{'x-name'}, '{{secret.CRM_TOKEN}}', 'the tag arrived as text');
}
ok(!grep({ JSON::PP->new->encode($_) =~ /sk_live_neverLeak/ } received($recv)),
	'the secret reached the receiver in no request');

$node->stop;
done_testing();
