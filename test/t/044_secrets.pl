# {{secret.NAME}} in a header template reaches the receiver and appears
# nowhere else: not in any table or view of the extension (secrets apart),
# not in webhook_config() or worker_status(), not in error messages, not in
# the server log at default logging settings.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use SecurityTest;
use Test::More;

# PostgreSQL::Test::Cluster logs every statement; the default is none.
my $node = start_node('secrets', "nextphone.allowed_networks = '127.0.0.1/32'",
	"log_statement = 'none'");

my $token = 'sk_live_Q9x7TOPSECRET4242';
my $ok = start_receiver();
my $failing = start_receiver(status => 500);

$node->safe_psql('postgres', "SELECT nextphone.set_secret('CRM_TOKEN', '$token')");
for my $hook ([ 'secretHook', $ok ], [ 'secretFailing', $failing ])
{
	$node->safe_psql('postgres', qq{
		SELECT nextphone.create_webhook('{
		  "type": "http", "tool_name": "$hook->[0]", "http_method": "POST",
		  "url": "http://127.0.0.1:$hook->[1]{port}/hook",
		  "headers": {"Authorization": "Bearer {{secret.CRM_TOKEN}}",
		              "X-Api-Key": "{{secret.CRM_TOKEN}}"},
		  "body_template": {"first_name": "{{first_name}}"},
		  "parameters": [{"name": "first_name", "type": "string"}]
		}')});
}

my $id = $node->safe_psql('postgres',
	q{SELECT nextphone.enqueue('secretHook', '{"first_name": "John"}')});
is(wait_for_outbox($node, $id), 'delivered', 'delivered');
my ($req) = received($ok);
is($req->{headers}{authorization}, "Bearer $token", 'the secret reached the receiver');
is($req->{headers}{'x-api-key'}, $token, 'in every header that names it');

# A failing delivery records errors and responses too.
$id = $node->safe_psql('postgres',
	q{SELECT nextphone.enqueue('secretFailing', '{"first_name": "Ann"}')});
wait_for_outbox($node, $id);
$node->safe_psql('postgres', "SELECT nextphone.cancel($id)")
  if $node->safe_psql('postgres', "SELECT status FROM nextphone.outbox WHERE id = $id") eq 'pending';
ok(scalar(() = received($failing)) >= 1, 'the failing receiver was reached');

# Every table and view of the extension except secrets, as text.
is($node->safe_psql('postgres', qq{
	SELECT string_agg(c.relname, ', ')
	  FROM pg_class c
	 WHERE c.relnamespace = 'nextphone'::regnamespace AND c.relkind IN ('r', 'v')
	   AND c.relname <> 'secrets'
	   AND query_to_xml(format('SELECT * FROM nextphone.%I', c.relname), true, false, '')::text
	       LIKE '%$token%'}),
	'', 'no table or view holds the secret');
is($node->safe_psql('postgres', qq{
	SELECT query_to_xml('SELECT * FROM nextphone.secrets', true, false, '')::text LIKE '%$token%'}),
	't', 'the same search finds it in the secrets table');
ok($node->safe_psql('postgres', "SELECT count(*) > 0 FROM nextphone.outbox WHERE headers::text LIKE '%secret.CRM_TOKEN%'")
	  eq 't', 'the outbox keeps the tag, not the value');
for my $tool ('secretHook', 'secretFailing')
{
	unlike($node->safe_psql('postgres', "SELECT nextphone.webhook_config('$tool')::text"),
		qr/\Q$token\E/, "webhook_config('$tool') does not show it");
}
unlike($node->safe_psql('postgres', 'SELECT nextphone.worker_status()::text'),
	qr/\Q$token\E/, 'worker_status() does not show it');

# A secret value that may not go into a header is refused without being
# repeated in the error.
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT nextphone.set_secret('BAD', E'abc\\r\\nX-Injected: leakmarker99')");
isnt($ret, 0, 'a secret holding CR LF is refused');
unlike($err, qr/leakmarker99/, 'the error does not repeat the value');

# The server log, at default logging settings.
$node->stop;
my $log = slurp_file($node->logfile);
like($log, qr/nextphone/, 'the log has the worker\'s lines');
unlike($log, qr/\Q$token\E/, 'the server log does not hold the secret');
unlike($log, qr/"first_name"/, 'nor a request body');

done_testing();
