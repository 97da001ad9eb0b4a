# Several databases use the extension: nextphone.database_name lists them,
# each gets its own delivery worker, which delivers that database's queue
# and is woken by that database's commits only.  A database listed without
# the extension, or not existing at all, does not stop the others; a kill -9
# of one database's worker loses none of its rows; a malformed list is
# refused.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use WorkerHelper;

my $port = start_receiver();
my $url = "http://127.0.0.1:$port";
my $node = worker_node('multidb', "nextphone.poll_interval = '1h'", 'restart_after_crash = on');

for my $db (qw(db_one db_two db_bare))
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
}
$node->safe_psql($_, 'CREATE EXTENSION nextphone') for qw(db_one db_two);

# A malformed list is refused with the reason, and nothing changes.
my ($ret, $out, $err) = $node->psql('postgres',
	"ALTER SYSTEM SET nextphone.database_name = 'db_one, db_two, db_one'");
like($err, qr/invalid value for parameter "nextphone.database_name".*\n.*Database "db_one" is listed twice/,
	'a database listed twice is refused');
($ret, $out, $err) = $node->psql('postgres',
	"ALTER SYSTEM SET nextphone.database_name = 'db_one,,db_two'");
like($err, qr/DETAIL:  The value must be a comma-separated list of database names/,
	'an empty entry is refused');
($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET nextphone.database_name = ' '");
like($err, qr/DETAIL:  The list names no database/, 'an empty list is refused');

# A malformed list in postgresql.conf: the server does not start.
$node->stop;
$node->append_conf('postgresql.conf', "nextphone.database_name = 'db_one, , db_two'\n");
my $log_offset = -s $node->logfile;
ok(!$node->start(fail_ok => 1), 'the server refuses a malformed list at start');
ok($node->log_contains(qr/invalid value for parameter "nextphone.database_name"/, $log_offset),
	'and says why');

$node->append_conf('postgresql.conf',
	"nextphone.database_name = 'db_one, db_two, db_bare, db_missing'\n");
$log_offset = -s $node->logfile;
$node->start;
my $started = time();

# One worker per listed database, named after it.
my $workers = "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity"
  . " WHERE backend_type = 'nextphone delivery worker'";
ok($node->poll_query_until('postgres', "$workers", 'db_bare,db_one,db_two'),
	'a worker connected to each existing listed database');
for my $db (qw(db_one db_two))
{
	my $pid = $node->safe_psql($db,
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'nextphone delivery worker' AND datname = '$db'");
	my $cmdline = slurp_file("/proc/$pid/cmdline");
	like($cmdline, qr/nextphone delivery worker 1 for database $db/, "the process title names $db");
}

# The database without the extension: its worker waits calmly.
ok($node->wait_for_log(qr/nextphone delivery worker waiting for the extension in database "db_bare"/,
		$log_offset),
	'the worker of a database without the extension waits');

# The missing database: a clear message, then a wait before each new try.
ok($node->wait_for_log(qr/FATAL:  database "db_missing" does not exist\n.*CONTEXT:  nextphone delivery worker 1 connecting to database "db_missing" of nextphone.database_name/,
		$log_offset),
	'a missing database is named in the log');
ok($node->wait_for_log(qr/LOG:  nextphone delivery worker 1 could not connect to database "db_missing"/,
		$log_offset),
	'and the worker says it will try again');
ok($node->poll_query_until('db_one',
		"SELECT state = 'waiting for database' FROM nextphone.worker_status() WHERE database = 'db_missing'"),
	'the worker of the missing database waits before trying again');

# A row queued in each database is delivered by that database's worker (the
# poll interval is an hour: the commit wakes it).
for my $db (qw(db_one db_two))
{
	$node->safe_psql($db,
		"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', '$url/$db', '{\"db\":\"$db\"}')");
}
for my $db (qw(db_one db_two))
{
	ok($node->poll_query_until($db, "SELECT status = 'delivered' FROM nextphone.outbox"),
		"the row of $db is delivered");
	is($node->safe_psql($db,
			"SELECT w.pid = a.pid, w.delivered, w.worker FROM nextphone.worker_status() w"
			  . " JOIN pg_stat_activity a ON a.datname = w.database"
			  . " AND a.backend_type = 'nextphone delivery worker'"
			  . " WHERE w.database = current_database()"),
		't|1|1', "worker_status() in $db shows its own worker, which delivered the row");
}
my @paths = sort map { $_->{path} } @{ receiver_requests($port) };
is_deeply(\@paths, [ '/db_one', '/db_two' ], 'the receiver got each row once');

# worker_status() lists the workers of every database; another database's
# last error is for pg_read_all_stats only.
$node->safe_psql('db_two',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', '$url/status/500', '{}')");
ok($node->poll_query_until('db_two', "SELECT status = 'dead' FROM nextphone.outbox WHERE url LIKE '%/500'"),
	'a failing row of db_two dies');
is($node->safe_psql('db_one',
		"SELECT string_agg(database || ':' || (last_error IS NOT NULL), ',' ORDER BY database) FROM nextphone.worker_status()"),
	'db_bare:false,db_missing:false,db_one:false,db_two:true',
	'worker_status() shows each worker with its database');
$node->safe_psql('db_one', qq{
	CREATE ROLE watcher LOGIN;
	GRANT USAGE ON SCHEMA nextphone TO watcher;
	GRANT EXECUTE ON FUNCTION nextphone.worker_status() TO watcher});
is($node->safe_psql('db_one',
		"SET ROLE watcher; SELECT count(*), count(last_error) FROM nextphone.worker_status() WHERE database = 'db_two'"),
	'1|0', "another database's last error is hidden from a role without pg_read_all_stats");

# A commit in db_two wakes db_two's worker, not db_one's.  (db_one's worker
# also runs every few seconds to reclaim leases: try a few times.)
my $woken = 1;
for my $try (1 .. 3)
{
	usleep(300_000);
	my $cycle = $node->safe_psql('db_one',
		"SELECT last_cycle_at FROM nextphone.worker_status() WHERE database = 'db_one'");
	$node->safe_psql('db_two',
		"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', '$url/wake$try', '{}')");
	$node->poll_query_until('db_two', "SELECT count(*) = 0 FROM nextphone.outbox WHERE status <> 'delivered' AND url LIKE '%/wake%'")
	  or die 'db_two did not deliver';
	usleep(200_000);
	$woken = $node->safe_psql('db_one',
		"SELECT last_cycle_at <> '$cycle' FROM nextphone.worker_status() WHERE database = 'db_one'") eq 't';
	last unless $woken;
}
ok(!$woken, "a commit in db_two does not wake db_one's worker");

# The missing database's worker does not crash-loop: tries at 0 s, then
# after 1 s + 1 s, 1 s + 2 s, 1 s + 4 s ... (without the wait, every second).
my $wait = $started + 7 - time();
usleep($wait * 1_000_000) if $wait > 0;
my $elapsed = time() - $started;
my $tries = () = slurp_file($node->logfile, $log_offset) =~ /database "db_missing" does not exist/g;
ok($tries >= 2 && $tries <= 1 + $elapsed / 2,
	sprintf('the missing database was tried %d times in %.1f s', $tries, $elapsed));

# kill -9 of db_two's worker while it sends: the row is not lost.
$node->safe_psql('db_two',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', '$url/hang/3000', '{\"kill\":1}')");
ok($node->poll_query_until('db_two',
		"SELECT status = 'sending' FROM nextphone.outbox WHERE url LIKE '%/hang/%'"),
	"db_two's worker is sending");
my $pid2 = $node->safe_psql('db_two',
	"SELECT pid FROM nextphone.worker_status() WHERE database = 'db_two'");
kill 'KILL', $pid2;
sleep 1;
for (1 .. 300)
{
	last if system('pg_isready', '-q', '-h', $node->host, '-p', $node->port) == 0;
	usleep(100_000);
}
ok($node->poll_query_until('db_two',
		"SELECT status = 'delivered' FROM nextphone.outbox WHERE url LIKE '%/hang/%'"),
	"db_two's row is delivered after the crash");
is($node->safe_psql('db_two',
		"SELECT count(*) FROM nextphone.worker_status() WHERE database = 'db_two' AND pid <> $pid2"),
	'1', "db_two's worker was restarted");
$node->safe_psql('db_one',
	"INSERT INTO nextphone.outbox (method, url, body) VALUES ('POST', '$url/after', '{}')");
ok($node->poll_query_until('db_one', "SELECT count(*) = 2 FROM nextphone.outbox WHERE status = 'delivered'"),
	"db_one's worker delivers after the crash");
ok((grep { $_->{body} eq '{"kill":1}' } @{ receiver_requests($port) }) >= 1,
	'the receiver got the row of the killed worker');

$node->stop;
done_testing();
