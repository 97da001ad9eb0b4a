# CREATE EXTENSION works with and without the library preloaded, and the
# extension survives a restart of a server that preloads it.
use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the version CREATE EXTENSION installs
my ($version) = slurp_file("$FindBin::Bin/../../nextphone.control")
  =~ /^default_version = '([^']+)'/m;

# Without shared_preload_libraries: the SQL functions still work.
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', 'CREATE EXTENSION nextphone');
is($plain->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'nextphone'"),
	$version, 'extension created without preloading the library');
$plain->safe_psql('postgres', 'DROP EXTENSION nextphone');
is($plain->safe_psql('postgres',
		"SELECT count(*) FROM pg_class WHERE relnamespace = 'nextphone'::regnamespace"),
	'0', 'DROP EXTENSION removes every table');
$plain->stop;

# Preloaded, as in production.
my $node = PostgreSQL::Test::Cluster->new('preloaded');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'nextphone'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION nextphone');
$node->safe_psql('postgres',
	"INSERT INTO nextphone.businesses (receiving_number, owner_name) VALUES ('+15559876543', 'Acme Contracting')");
$node->restart;
is($node->safe_psql('postgres', 'SELECT owner_name FROM nextphone.businesses'),
	'Acme Contracting', 'data kept across a restart with the library preloaded');
$node->stop;

done_testing();
