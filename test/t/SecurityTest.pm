# Shared set-up of the security TAP tests (test/t/04x_*.pl): a server with
# the delivery worker, and receivers (test/t/secure_receiver.py) that record
# what arrives.
package SecurityTest;

use strict;
use warnings;
use File::Basename qw(dirname);
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use Exporter 'import';
our @EXPORT = qw(start_node start_receiver received wait_for_outbox make_tls);

my $receiver_script = dirname(__FILE__) . '/secure_receiver.py';

# A preloaded server whose worker serves database "postgres", with the
# extension created there; extra lines go to postgresql.conf.
sub start_node
{
	my ($name, @conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', join("\n",
		"shared_preload_libraries = 'nextphone'",
		"nextphone.database_name = 'postgres'",
		"nextphone.poll_interval = '200ms'",
		@conf));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION nextphone');

	# These tests need the delivery worker (branch "worker") and the
	# enqueue functions (branch "model"); a branch without both has nothing
	# to deliver with.
	if ($node->safe_psql('postgres',
			"SELECT to_regproc('nextphone.worker_status') IS NULL"
			  . " OR to_regproc('nextphone.enqueue') IS NULL") eq 't')
	{
		$node->stop;
		plan skip_all => 'the delivery worker or the enqueue functions are not part of this build';
	}
	return $node;
}

# A receiver on a free port; options as secure_receiver.py takes them
# (secret => [...], cert, key, tls_max, status, redirect, bind).
sub start_receiver
{
	my (%opt) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $log = "$PostgreSQL::Test::Utils::tmp_check/receiver_$port.jsonl";
	my @cmd = ('python3', $receiver_script, '--port', $port, '--log', $log);
	push @cmd, '--bind', $opt{bind} if $opt{bind};
	push @cmd, '--secret', $_ for @{ $opt{secret} || [] };
	push @cmd, '--cert', $opt{cert}, '--key', $opt{key} if $opt{cert};
	push @cmd, '--tls-max', $opt{tls_max} if $opt{tls_max};
	push @cmd, '--status', $opt{status} if $opt{status};
	push @cmd, '--redirect', $opt{redirect} if $opt{redirect};
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(\@cmd, '>', \$out, '2>', \$err);
	my $timer = IPC::Run::timer(10);
	$timer->start;
	while ($out !~ /ready/ && !$timer->is_expired)
	{
		$h->pump_nb;
		select(undef, undef, undef, 0.05);
	}
	die "receiver did not start: $err" unless $out =~ /ready/;
	return { port => $port, log => $log, handle => $h };
}

# What a receiver got: a list of hashes (method, path, headers, body,
# verified).
sub received
{
	my ($r) = @_;
	return () unless -e $r->{log};
	return map { decode_json($_) } grep { /\S/ } split /\n/, slurp_file($r->{log});
}

# Wait until the outbox row has left pending/sending; returns its status.
sub wait_for_outbox
{
	my ($node, $id) = @_;
	$node->poll_query_until('postgres',
		"SELECT status NOT IN ('pending', 'sending') OR attempts > 0 AND last_error IS NOT NULL"
		  . " FROM nextphone.outbox WHERE id = $id")
	  or die "outbox row $id was not processed";
	return $node->safe_psql('postgres', "SELECT status FROM nextphone.outbox WHERE id = $id");
}

# A CA and server certificates signed by it, made with openssl in $dir:
# "good" (localhost, 127.0.0.1) and "wrong" (wrong.example only).
sub make_tls
{
	my ($dir) = @_;
	my $run = sub {
		my @cmd = @_;
		my ($o, $e) = ('', '');
		IPC::Run::run(\@cmd, '>', \$o, '2>', \$e)
		  or die "@cmd: $e";
	};
	$run->('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
		'-keyout', "$dir/ca.key", '-out', "$dir/ca.pem", '-days', '2',
		'-subj', '/CN=nextphone test CA');
	my %san = (good => 'DNS:localhost,IP:127.0.0.1', wrong => 'DNS:wrong.example');
	for my $n (sort keys %san)
	{
		$run->('openssl', 'req', '-newkey', 'rsa:2048', '-nodes',
			'-keyout', "$dir/$n.key", '-out', "$dir/$n.csr", '-subj', "/CN=$n");
		open my $fh, '>', "$dir/$n.ext" or die $!;
		print $fh "subjectAltName=$san{$n}\nbasicConstraints=CA:FALSE\n"
		  . "extendedKeyUsage=serverAuth\n";
		close $fh;
		$run->('openssl', 'x509', '-req', '-in', "$dir/$n.csr", '-CA', "$dir/ca.pem",
			'-CAkey', "$dir/ca.key", '-CAcreateserial', '-out', "$dir/$n.pem",
			'-days', '2', '-extfile', "$dir/$n.ext");
	}
	return { map { $_ => "$dir/$_" } qw(ca.pem good.pem good.key wrong.pem wrong.key) };
}

1;
