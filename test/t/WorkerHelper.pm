# Shared set-up of the delivery worker's TAP tests: a cluster with the
# library preloaded and fast retry settings, and the test receiver
# (test/receiver.py) on a free port of 127.0.0.1.
package WorkerHelper;

use strict;
use warnings;
use Exporter 'import';
use FindBin;
use HTTP::Tiny;
use JSON::PP;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(worker_node start_receiver receiver_requests receiver_get
  wait_for add_webhook);

my $receiver_script = "$FindBin::Bin/../receiver.py";

# A started cluster, the extension created in "postgres", the worker
# running.  Extra postgresql.conf lines may be given.
sub worker_node
{
	my ($name, @conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', join("\n",
		"shared_preload_libraries = 'nextphone'",
		"nextphone.allowed_networks = '127.0.0.0/8'",
		"nextphone.retry_schedule = '0s,100ms,200ms'",
		# circuits open only in the test of the circuit breaker
		"nextphone.circuit_failures = 1000",
		@conf) . "\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION nextphone');
	return $node;
}

# Start a receiver; returns its port (it is stopped when the test ends).
my @receivers;
sub start_receiver
{
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $h = IPC::Run::start([ 'python3', $receiver_script, $port ],
		'>', \my $out, '2>', \my $err);
	push @receivers, $h;
	for (1 .. 100)
	{
		return $port if HTTP::Tiny->new->get("http://127.0.0.1:$port/_count")->{success};
		usleep(50_000);
	}
	die "test receiver did not start on port $port: $err";
}

END { local $?; $_->kill_kill for @receivers; }

# GET a control path of the receiver; returns the body.
sub receiver_get
{
	my ($port, $path) = @_;
	my $res = HTTP::Tiny->new->get("http://127.0.0.1:$port$path");
	die "receiver: $path: $res->{status}" unless $res->{success};
	return $res->{content};
}

# Every request the receiver recorded, in arrival order (array of hashes:
# t, method, path, headers, body).
sub receiver_requests
{
	my ($port) = @_;
	return decode_json(receiver_get($port, '/_requests'));
}

# Wait until a query returns the expected value (default 't').
sub wait_for
{
	my ($node, $sql, $expected, $what) = @_;
	$expected = 't' unless defined $expected;
	ok($node->poll_query_until('postgres', $sql, $expected), $what)
	  or diag($node->safe_psql('postgres',
		'SELECT id, status, attempts, last_error FROM nextphone.outbox ORDER BY id LIMIT 20'));
}

# Insert a webhook row (the columns given as a hash); returns its id.
sub add_webhook
{
	my ($node, %col) = @_;
	my @names = sort keys %col;
	my $sql = sprintf('INSERT INTO nextphone.webhooks (%s) VALUES (%s) RETURNING id',
		join(', ', @names), join(', ', map { $col{$_} } @names));
	return $node->safe_psql('postgres', $sql);
}

1;
