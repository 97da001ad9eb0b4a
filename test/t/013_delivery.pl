# Delivery of the guide's webhook: method, path, headers (secrets resolved
# at send time, webhook-id, User-Agent) and body arrive exactly; one
# attempts row records it.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my ($version) = slurp_file("$FindBin::Bin/../../nextphone.control")
  =~ /^default_version = '([^']+)'/m;
my $port = start_receiver();
my $node = worker_node('delivery');

$node->safe_psql('postgres',
	"INSERT INTO nextphone.secrets (name, value) VALUES ('CRM_KEY', 's3cr3t-token')");
my $wid = add_webhook($node,
	tool_name => "'submitLeadToCRM'",
	url => "'http://127.0.0.1:$port/api/nextphone-webhook'",
	headers => q{'{"Authorization": "Bearer {{secret.CRM_KEY}}", "Content-Type": "application/json"}'});

# The body as the guide's body_template renders for a caller.
my $body = '{"first_name": "John", "phone": "+15551234567", "email": "john@example.com", '
  . '"company": "Acme", "notes": "Needs a quote", "source": "NextPhone AI"}';
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (webhook_id, webhook, method, url, headers, body)
	SELECT id, tool_name, http_method, url, headers::jsonb, '$body'
	  FROM nextphone.webhooks WHERE id = $wid});
wait_for($node, "SELECT status = 'delivered' FROM nextphone.outbox", 't', 'delivered');

my $msg_id = $node->safe_psql('postgres', 'SELECT msg_id FROM nextphone.outbox');
my $reqs = receiver_requests($port);
is(scalar @$reqs, 1, 'one request');
my $r = $reqs->[0];
is($r->{method}, 'POST', 'method');
is($r->{path}, '/api/nextphone-webhook', 'path');
is($r->{body}, $body, 'body exactly as rendered');
is($r->{headers}{authorization}, 'Bearer s3cr3t-token', 'secret resolved at send time');
is($r->{headers}{'content-type'}, 'application/json', 'content type');
is($r->{headers}{'webhook-id'}, $msg_id, 'webhook-id is the message id');
is($r->{headers}{'user-agent'}, "nextphone/$version", 'User-Agent names the extension');

is($node->safe_psql('postgres',
		'SELECT attempt, status_code, error IS NULL, response_body, duration_ms > 0 FROM nextphone.attempts'),
	'1|200|t|ok|t', 'one attempts row with status, response and duration');
is($node->safe_psql('postgres',
		"SELECT response_headers ->> 'content-length' FROM nextphone.attempts"),
	'2', 'response headers kept');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM nextphone.outbox o, nextphone.attempts a WHERE (o.headers::text || coalesce(a.response_headers::text, '') || coalesce(o.last_error, '')) LIKE '%s3cr3t%'"),
	'0', 'the secret is written nowhere');

# A response is whatever the receiver sent: bytes that are not valid in the
# database encoding cut a header value or the body where they start, a
# header given twice keeps its last value, and names are kept in lower case.
my $odd = $node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	VALUES ('POST', 'http://127.0.0.1:$port/odd-bytes', '{}') RETURNING id});
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = $odd", 'delivered',
	'a response holding bytes that are not UTF-8 is recorded');
is($node->safe_psql('postgres', qq{
	SELECT status_code, response_body, response_headers ->> 'x-odd',
	       response_headers ->> 'x-twice', response_headers ->> 'x-capitals'
	  FROM nextphone.attempts WHERE outbox_id = $odd}),
	'200|ok |caf|second|Kept', 'headers and body cut at the first such byte');

# A header value is checked for line breaks when queued; one that an UPDATE
# puts there later is never sent (it would add headers of its own to the
# request): the message goes dead, saying why.
my $later = $node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, headers, body, next_attempt_at)
	VALUES ('POST', 'http://127.0.0.1:$port/changed', '{"X-Note": "fine"}', '{}', now() + interval '1 hour')
	RETURNING id});
$node->safe_psql('postgres', qq{
	UPDATE nextphone.outbox SET headers = jsonb_build_object('X-Note', E'fine\r\nX-Injected: yes'),
	       next_attempt_at = now()
	 WHERE id = $later});
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = $later", 'dead',
	'a header given a line break after it was queued');
like($node->safe_psql('postgres', "SELECT last_error FROM nextphone.outbox WHERE id = $later"),
	qr/^header "X-Note" holds a line break/, 'the error names the header');
ok(!grep({ $_->{path} eq '/changed' } @{ receiver_requests($port) }), 'and nothing was sent');
# The same for a message id holding a line break (it is sent as webhook-id),
# which the outbox's trigger refuses (sql/enqueue.sql), but which a row put
# there without it, as here, may have.
my $odd_id = $node->safe_psql('postgres', qq{
	SET session_replication_role = replica;
	INSERT INTO nextphone.outbox (msg_id, method, url, body)
	VALUES (E'msg_1\r\nX-Injected: yes', 'POST', 'http://127.0.0.1:$port/odd-id', '{}') RETURNING id});
wait_for($node, "SELECT status FROM nextphone.outbox WHERE id = $odd_id", 'dead',
	'a message id holding a line break');
is($node->safe_psql('postgres', "SELECT last_error FROM nextphone.outbox WHERE id = $odd_id"),
	'the message id holds a line break: it is never sent', 'saying so');
ok(!grep({ $_->{path} eq '/odd-id' } @{ receiver_requests($port) }), 'and it was not sent');

# Other methods: GET without a body, PUT and DELETE with one.
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body) VALUES
	  ('GET', 'http://127.0.0.1:$port/get?x=1', NULL),
	  ('PUT', 'http://127.0.0.1:$port/put', '{"a":1}'),
	  ('DELETE', 'http://127.0.0.1:$port/delete', NULL)});
wait_for($node, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", '5',
	'GET, PUT and DELETE delivered');
my %by_path = map { $_->{path} => $_ } @{ receiver_requests($port) };
is($by_path{'/get?x=1'}{method}, 'GET', 'GET sent as GET');
is($by_path{'/put'}{method} . ' ' . $by_path{'/put'}{body}, 'PUT {"a":1}', 'PUT with its body');
is($by_path{'/delete'}{method}, 'DELETE', 'DELETE sent as DELETE');

# Not http(s): refused when queued (SQLSTATE 22023), so nothing is stored
# and the worker never sees it.
my ($rc, $out, $err) = $node->psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', 'ftp://127.0.0.1:$port/x', '{}')},
	extra_params => ['-v', 'VERBOSITY=verbose']);
like($err, qr/22023.*ftp/s, 'an ftp URL is refused when queued');
is($node->safe_psql('postgres', "SELECT count(*) FROM nextphone.outbox WHERE url LIKE 'ftp:%'"),
	'0', 'and nothing is stored');

# A secret deleted after its webhook was configured: a failed attempt each
# time, never sent without it.  (An ad-hoc row may not name secrets at all.)
($rc, $out, $err) = $node->psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, headers, body) VALUES
	  ('POST', 'http://127.0.0.1:$port/adhoc', '{"Authorization": "Bearer {{secret.CRM_KEY}}"}', '{}')});
like($err, qr/names a secret/, 'an ad-hoc row naming a secret is refused');
$node->safe_psql('postgres',
	"INSERT INTO nextphone.secrets (name, value) VALUES ('MISSING', 'soon gone')");
my $gone = add_webhook($node,
	tool_name => "'gone'",
	url => "'http://127.0.0.1:$port/nosecret'",
	headers => q{'{"Authorization": "Bearer {{secret.MISSING}}"}'});
$node->safe_psql('postgres', qq{
	DELETE FROM nextphone.secrets WHERE name = 'MISSING';
	INSERT INTO nextphone.outbox (webhook_id, webhook, method, url, headers, body)
	SELECT id, tool_name, http_method, url, headers::jsonb, '{}'
	  FROM nextphone.webhooks WHERE id = $gone});
wait_for($node, "SELECT status FROM nextphone.outbox WHERE url LIKE '%nosecret'", 'dead',
	'a missing secret fails every attempt');
is($node->safe_psql('postgres', "SELECT attempts, last_error FROM nextphone.outbox WHERE url LIKE '%nosecret'"),
	'3|secret "MISSING" does not exist', 'and says which secret');
ok(!(grep { $_->{path} eq '/nosecret' } @{ receiver_requests($port) }), 'nothing was sent');

$node->stop;
done_testing();
