# ALTER EXTENSION nextphone UPDATE, from every released version: the updated
# extension is object for object the same as a fresh install of the current
# version, the data queued and configured before the update is kept, and the
# worker goes on delivering.
use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib $FindBin::Bin;
use WorkerHelper;

# Released versions: every install script kept in sql/ besides the current
# one (the current one is assembled from sql/parts/ by the Makefile).
my ($current) = slurp_file("$FindBin::Bin/../../nextphone.control")
  =~ /^default_version = '([^']+)'/m;
my @released = sort map { m{nextphone--([0-9.]+)\.sql$} ? $1 : () }
  glob("$FindBin::Bin/../../sql/nextphone--*.sql");
@released = grep { $_ ne $current } @released;
ok(@released > 0, "released versions to update from: @released");

# Everything the extension owns, described in words that do not depend on
# OIDs or on the order objects were created in.
my $describe = q{
WITH ext AS (SELECT oid, extconfig, extcondition FROM pg_extension WHERE extname = 'nextphone'),
members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rels AS (
    SELECT c.oid, c.relname FROM pg_class c
     WHERE c.relnamespace = 'nextphone'::regnamespace)
SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
UNION ALL
SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_get_functiondef(p.oid)
       || E'\nacl ' || coalesce(p.proacl::text, '-')
       || E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
  FROM pg_proc p WHERE p.pronamespace = 'nextphone'::regnamespace AND p.prokind <> 'a'
UNION ALL
SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(c.reloptions::text, '-')
       || ' acl ' || coalesce(c.relacl::text, '-')
       || ' persistence ' || c.relpersistence::text
       || E'\ncomment ' || coalesce(obj_description(c.oid, 'pg_class'), '-')
       || CASE WHEN c.relkind = 'v' THEN E'\n' || pg_get_viewdef(c.oid) ELSE '' END
  FROM pg_class c WHERE c.relnamespace = 'nextphone'::regnamespace
UNION ALL
SELECT 'column ' || r.relname || ' #' || row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum)
       || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
       || coalesce(' identity ' || nullif(a.attidentity::text, ''), '')
       || coalesce(' collation ' || a.attcollation::regcollation::text, '')
       || E'\ncomment ' || coalesce(col_description(r.oid, a.attnum), '-')
  FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
UNION ALL
SELECT 'constraint ' || r.relname || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
  FROM rels r JOIN pg_constraint co ON co.conrelid = r.oid
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM rels r JOIN pg_index i ON i.indrelid = r.oid
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
  FROM rels r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
UNION ALL
SELECT 'type ' || format_type(t.oid, NULL) || ' ' || t.typtype::text
       || coalesce(' over ' || format_type(t.typbasetype, t.typtypmod), '')
       || coalesce(' ' || (SELECT string_agg(pg_get_constraintdef(co.oid), ' ' ORDER BY co.conname)
                             FROM pg_constraint co WHERE co.contypid = t.oid), '')
       || coalesce(' ' || (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                             FROM pg_enum e WHERE e.enumtypid = t.oid), '')
       || E'\ncomment ' || coalesce(obj_description(t.oid, 'pg_type'), '-')
  FROM pg_type t WHERE t.typnamespace = 'nextphone'::regnamespace AND t.typrelid = 0
       AND t.typelem = 0
UNION ALL
SELECT 'config dump ' || x.tab::regclass || ' ' || coalesce(nullif(x.cond, ''), '-')
  FROM ext, unnest(ext.extconfig, ext.extcondition) AS x (tab, cond)
ORDER BY 1
};

my $port = start_receiver();
my $node = worker_node('upgrade');
my $fresh = $node->safe_psql('postgres', $describe);
like($fresh, qr/^function nextphone\.record_call\(jsonb\)$/m,
	'the description sees the functions');

foreach my $from (@released)
{
	# The released version, in use: a business, a webhook, a delivered call.
	$node->safe_psql('postgres', qq{
		DROP EXTENSION nextphone CASCADE;
		DROP SCHEMA IF EXISTS nextphone CASCADE;
		CREATE EXTENSION nextphone VERSION '$from';
		INSERT INTO nextphone.businesses (receiving_number, owner_name)
		VALUES ('+15559876543', 'Acme');
		SELECT nextphone.create_webhook('{
		  "type": "http", "tool_name": "crm", "http_method": "POST",
		  "url": "http://127.0.0.1:$port/crm/$from",
		  "body_template": {"who": "{{caller_number}}"},
		  "events": ["call.completed"]}');
		SELECT nextphone.record_call('{"external_id": "before-$from",
		  "caller_number": "+15551230001", "receiving_number": "+15559876543"}');
	});
	wait_for($node, "SELECT count(*) = 1 FROM nextphone.outbox WHERE status = 'delivered'",
		't', "$from: a call delivered before the update");
	ok($node->wait_for_log(
			qr/WARNING:  nextphone library version \Q$current\E runs against extension version \Q$from\E in database "postgres"/),
		"$from: the worker warns that the extension is not updated yet");

	$node->safe_psql('postgres', 'ALTER EXTENSION nextphone UPDATE');
	is($node->safe_psql('postgres',
			"SELECT extversion FROM pg_extension WHERE extname = 'nextphone'"),
		$current, "$from: updated to $current");

	my $updated = $node->safe_psql('postgres', $describe);
	is_deeply([ split /\n/, $updated ], [ split /\n/, $fresh ],
		"$from: the updated extension is the same as a fresh $current");

	is($node->safe_psql('postgres', q{
		SELECT count(*) FROM nextphone.calls WHERE external_id LIKE 'before-%'}),
		'1', "$from: the call recorded before the update is kept");
	$node->safe_psql('postgres', qq{
		SELECT nextphone.record_call('{"external_id": "after-$from",
		  "caller_number": "+15551230002", "receiving_number": "+15559876543"}')});
	wait_for($node, "SELECT count(*) = 2 FROM nextphone.outbox WHERE status = 'delivered'",
		't', "$from: and a call after it is delivered by the same webhook");
	is($node->safe_psql('postgres',
			"SELECT health FROM nextphone.webhook_health WHERE tool_name = 'crm'"),
		'healthy', "$from: the webhook's health is shown");
}
is(scalar(grep { $_->{path} =~ m{^/crm/} } @{ receiver_requests($port) }),
	2 * @released, 'the receiver saw every call');

$node->stop;
done_testing();
