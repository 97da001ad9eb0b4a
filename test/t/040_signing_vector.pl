# The Standard Webhooks test vectors, read from the shared conformance file
# at test time: sign_payload() must produce each expected signature, and
# verify_signature() must accept it (with a tolerance reaching back to the
# vector's timestamp) and reject it with one byte of the payload changed.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $shared = $ENV{NEXTPHONE_SHARED}
  or BAIL_OUT('NEXTPHONE_SHARED is not set');
my $file = "$shared/conformance/standard-webhooks/vectors.json";
my $vectors = decode_json(slurp_file($file));
ok(@$vectors > 0, 'the vector file holds vectors');

my $node = PostgreSQL::Test::Cluster->new('signing');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION nextphone');

# SQL string literal
sub lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

for my $v (@$vectors)
{
	my $args = join(', ',
		lit($v->{secret}), lit($v->{msg_id}),
		"$v->{timestamp}::bigint", lit($v->{payload}));
	is($node->safe_psql('postgres', "SELECT nextphone.sign_payload($args)"),
		$v->{signature}, "signature of $v->{msg_id}");

	my $headers = lit(encode_json({
		'webhook-id' => $v->{msg_id},
		'webhook-timestamp' => "$v->{timestamp}",
		'webhook-signature' => $v->{signature} }));
	my $tolerance = "(now() - to_timestamp($v->{timestamp})) + interval '1 minute'";
	is($node->safe_psql('postgres',
			"SELECT nextphone.verify_signature(" . lit($v->{secret})
			  . ", $headers, " . lit($v->{payload}) . ", $tolerance)"),
		't', "verified $v->{msg_id}");

	(my $tampered = $v->{payload}) =~ s/(.)$/$1 eq '}' ? ' }' : 'x'/e;
	is($node->safe_psql('postgres',
			"SELECT nextphone.verify_signature(" . lit($v->{secret})
			  . ", $headers, " . lit($tampered) . ", $tolerance)"),
		'f', "tampered payload of $v->{msg_id} rejected");

	# With the default tolerance of five minutes, the vector (from 2021)
	# is too old.
	is($node->safe_psql('postgres',
			"SELECT nextphone.verify_signature(" . lit($v->{secret})
			  . ", $headers, " . lit($v->{payload}) . ")"),
		'f', "old timestamp of $v->{msg_id} rejected");
}

$node->stop;
done_testing();
