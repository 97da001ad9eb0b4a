# Mustache conformance: every case of the spec files comments, delimiters,
# interpolation, inverted and sections (from $NEXTPHONE_SHARED/conformance/
# mustache/) rendered by nextphone.render(..., escape => 'html',
# on_missing => 'empty') on a real cluster.  Cases that need partials are
# skipped and counted; every other case must pass.
#
# All cases run in one psql call: the spec files are loaded into a temporary
# table and a PL/pgSQL function renders each case, catching its error.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my @files = qw(comments delimiters interpolation inverted sections);

my $shared = $ENV{NEXTPHONE_SHARED};
BAIL_OUT('NEXTPHONE_SHARED is not set: it must name the directory holding conformance/mustache/')
  unless defined $shared && $shared ne '';
my $dir = "$shared/conformance/mustache";
BAIL_OUT("$dir does not exist") unless -d $dir;

# Read each file, and count its cases and those that need partials.
my (%text, %cases, %partials);
foreach my $file (@files)
{
	my $path = "$dir/$file.json";
	BAIL_OUT("$path is missing") unless -f $path;
	$text{$file} = slurp_file($path);
	my $spec = decode_json($text{$file});
	$cases{$file} = scalar @{ $spec->{tests} };
	$partials{$file} = grep { exists $_->{partials} } @{ $spec->{tests} };
}

my $node = PostgreSQL::Test::Cluster->new('conformance');
$node->init;
$node->start;

my $sql = <<'SQL';
CREATE EXTENSION nextphone;
CREATE TEMP TABLE spec (file text, body jsonb);
CREATE FUNCTION pg_temp.run_case(c jsonb) RETURNS text LANGUAGE plpgsql AS $fn$
BEGIN
	RETURN nextphone.render(c->>'template', c->'data', escape => 'html', on_missing => 'empty');
EXCEPTION WHEN OTHERS THEN
	RETURN 'ERROR: ' || SQLERRM;
END
$fn$;
SQL
foreach my $file (@files)
{
	$sql .= "INSERT INTO spec VALUES ('$file', \$spec\$$text{$file}\$spec\$);\n";
}
# One line per case: file, name, outcome, what was rendered, what was expected.
$sql .= <<'SQL';
SELECT concat_ws(chr(31), s.file, to_json(t.c->>'name'),
		CASE WHEN t.c ? 'partials' THEN 'skipped'
			 WHEN r.got IS NOT DISTINCT FROM t.c->>'expected' THEN 'passed'
			 ELSE 'failed' END,
		to_json(r.got), to_json(t.c->>'expected'))
FROM spec s,
	 jsonb_array_elements(s.body->'tests') WITH ORDINALITY AS t(c, n),
	 LATERAL (SELECT CASE WHEN t.c ? 'partials' THEN NULL
						  ELSE pg_temp.run_case(t.c) END AS got) r
ORDER BY s.file, t.n;
SQL

my $out = $node->safe_psql('postgres', $sql);

my (%count, $total_skipped);
foreach my $line (split /\n/, $out)
{
	my ($file, $name, $outcome, $got, $expected) = split /\x1f/, $line;
	$count{$file}{$outcome}++;
	diag("$file: $name failed: rendered $got, expected $expected")
	  if $outcome eq 'failed';
}

my ($all_passed, $all_failed, $all_skipped) = (0, 0, 0);
foreach my $file (@files)
{
	my ($p, $f, $s) = map { $count{$file}{$_} // 0 } qw(passed failed skipped);
	($all_passed, $all_failed, $all_skipped) =
	  ($all_passed + $p, $all_failed + $f, $all_skipped + $s);
	note("$file.json: $p passed, $f failed, $s skipped");
	is($p + $f + $s, $cases{$file}, "$file.json: every case ran");
	is($s, $partials{$file}, "$file.json: only the cases needing partials skipped ($s)");
	is($f, 0, "$file.json: $p passed, $f failed, $s skipped");
}
note("all files: $all_passed passed, $all_failed failed, $all_skipped skipped");

$node->stop;
done_testing();
