# A streaming standby with the same configuration as its primary: it runs no
# delivery worker (the queue is read-only there, and the primary's worker
# owns it), its status can be queried, and when the primary is lost in the
# middle of deliveries and the standby is promoted, the new primary's worker
# delivers every message: the ones still pending, and the ones the old
# primary's worker had claimed ("sending") when it died.  A message may
# arrive twice across the failover, always with the same webhook-id.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $n = 2000;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', join("\n",
	"shared_preload_libraries = 'nextphone'",
	"nextphone.allowed_networks = '127.0.0.0/8'",
	"nextphone.retry_schedule = '0s,100ms,200ms'",
	"nextphone.max_concurrency = 32") . "\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION nextphone');

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;

my $worker_count = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'nextphone delivery worker'";

# Each request takes 100 ms: with 32 in flight, 2,000 take about 6 s, so the
# primary is lost with messages delivered, in flight and still pending.
$primary->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body)
	SELECT 'POST', 'http://127.0.0.1:$port/hang/100', '{"n":' || g || '}' FROM generate_series(1, $n) g});
ok($primary->poll_query_until('postgres',
		"SELECT count(*) >= 300 FROM nextphone.outbox WHERE status = 'delivered'"),
	'deliveries under way on the primary');
$primary->wait_for_catchup($standby);

# The standby: no worker, but the queue and the workers' view can be read.
is($standby->safe_psql('postgres', $worker_count), '0', 'the standby runs no delivery worker');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM nextphone.worker_status()'), '0',
	'worker_status() on the standby lists no worker');
my $seen = $standby->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE status = 'delivered') > 0
	   AND count(*) FILTER (WHERE status = 'sending') > 0
	   AND count(*) FILTER (WHERE status = 'pending') > 0
	  FROM nextphone.message_status});
is($seen, 't', 'the standby shows messages delivered, sending and pending');
my ($rc, $out, $err) = $standby->psql('postgres',
	q{INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', 'http://127.0.0.1:1/x', '{}')},
	on_error_stop => 1);
isnt($rc, 0, 'a message cannot be queued on the standby');
like($err, qr/read-only transaction/, '... with the read-only error');

# Lose the primary in the middle of its deliveries, and promote the standby.
$primary->stop('immediate');
my $left = $standby->safe_psql('postgres',
	"SELECT count(*) FROM nextphone.outbox WHERE status IN ('pending', 'sending')");
cmp_ok($left, '>', 0, "the standby had $left messages still to deliver when the primary was lost");
$standby->promote;

ok($standby->poll_query_until('postgres', $worker_count, '1'),
	'the promoted standby starts its delivery worker');
wait_for($standby, "SELECT count(*) FROM nextphone.outbox WHERE status = 'delivered'", $n,
	'every message delivered by the promoted standby');

my %body_of;
my $mismatch = 0;
my $requests = receiver_requests($port);
for my $r (@$requests)
{
	my $id = $r->{headers}{'webhook-id'};
	$mismatch++ if exists $body_of{$id} && $body_of{$id} ne $r->{body};
	$body_of{$id} = $r->{body};
}
is(scalar(keys %body_of), $n, 'the receiver saw every message');
is($mismatch, 0, 'a message that arrived twice had the same webhook-id and body');
note(scalar(@$requests) - $n . ' messages arrived twice across the failover');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM nextphone.outbox o WHERE NOT EXISTS (SELECT 1 FROM nextphone.attempts a WHERE a.outbox_id = o.id)"),
	'0', 'every message has its attempts row');

$standby->stop;
done_testing();
