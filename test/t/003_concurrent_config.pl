# Two sessions configuring at once: a webhook created while another session
# creates one of the same name (not yet committed) waits for it, then gets the
# same error as if it had been created before (42710 duplicate_object), not a
# unique violation; and the same for two renames to one new name.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('config');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION nextphone');

my $config = q{'{"type": "http", "tool_name": "dup", "http_method": "POST",
  "url": "https://crm.example.com/hook", "body_template": {"a": 1}}'};

my $first = $node->background_psql('postgres');
$first->query_safe('BEGIN');
$first->query_safe("SELECT nextphone.create_webhook($config)");

my $second = $node->background_psql('postgres', on_error_stop => 0);
$second->query_safe('\set VERBOSITY verbose');
$second->query_until(qr/started/, "\\echo started\nSELECT nextphone.create_webhook($config);\n");
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	 WHERE wait_event_type = 'Lock' AND query LIKE '%create_webhook%'}),
	'the second session waits for the first');

$first->query_safe('COMMIT');
$second->query('SELECT 1');
like($second->{stderr}, qr/ERROR:  42710: webhook "dup" already exists/,
	'then gets "already exists" (42710)');
unlike($second->{stderr}, qr/23505|duplicate key/, 'not a unique violation');
$first->quit;
$second->quit;

is($node->safe_psql('postgres', 'SELECT count(*) FROM nextphone.webhooks'), '1',
	'one webhook stored');

# The same for a rename: two webhooks renamed to the same new name at once.
$node->safe_psql('postgres', q{
	SELECT nextphone.create_webhook(replace(c, 'dup', n)::json)
	  FROM (VALUES ('a'), ('b')) v(n),
	       (SELECT '{"type": "http", "tool_name": "dup", "http_method": "POST",
	                 "url": "https://crm.example.com/hook", "body_template": {"a": 1}}' AS c) x});
$first = $node->background_psql('postgres');
$first->query_safe('BEGIN');
$first->query_safe(q{SELECT nextphone.update_webhook('a', '{"tool_name": "new"}')});
$second = $node->background_psql('postgres', on_error_stop => 0);
$second->query_safe('\set VERBOSITY verbose');
$second->query_until(qr/started/,
	"\\echo started\nSELECT nextphone.update_webhook('b', '{\"tool_name\": \"new\"}');\n");
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	 WHERE wait_event_type = 'Lock' AND query LIKE '%update_webhook%'}),
	'a second rename to the same name waits for the first');
$first->query_safe('COMMIT');
$second->query('SELECT 1');
like($second->{stderr}, qr/ERROR:  42710: webhook "new" already exists/,
	'then gets "already exists" (42710)');
unlike($second->{stderr}, qr/23505|duplicate key/, 'not a unique violation');
$first->quit;
$second->quit;
is($node->safe_psql('postgres', 'SELECT string_agg(tool_name, \',\' ORDER BY tool_name) FROM nextphone.webhooks'),
	'b,dup,new', 'the second webhook keeps its name');

$node->stop;
done_testing();
