# Response bodies.  An attempt keeps the body up to
# nextphone.max_response_size.  A body far longer than that is not read to
# its end: 1 MB past the limit the transfer stops there and the connection is
# closed, and the status decides the outcome.  An endless body after a 200 is
# a delivery, not a timeout that would send the message again.
use strict;
use warnings;
use FindBin;
use lib $FindBin::Bin;
use PostgreSQL::Test::Utils;
use Test::More;
use WorkerHelper;

my $port = start_receiver();
my $node = worker_node('body', 'nextphone.max_response_size = 1000',
	'nextphone.default_timeout = 5000');

$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body) VALUES
	  ('POST', 'http://127.0.0.1:$port/big/100000', '{}'),
	  ('POST', 'http://127.0.0.1:$port/endless/200', '{}'),
	  ('POST', 'http://127.0.0.1:$port/endless/500', '{}')});
wait_for($node, q{SELECT count(*) FROM nextphone.outbox WHERE status IN ('delivered', 'dead')}, '3',
	'all three ended');

is($node->safe_psql('postgres', q{
	SELECT string_agg(format('%s %s', status, attempts), ', ' ORDER BY id) FROM nextphone.outbox}),
	'delivered 1, delivered 1, dead 3',
	'a long and an endless body after a 200 are deliveries; an endless 500 is retried');
is($node->safe_psql('postgres', q{
	SELECT string_agg(format('%s %s %s %s', outbox_id, status_code, length(response_body),
	                         coalesce(error, '-')), ', ' ORDER BY outbox_id, attempt)
	  FROM nextphone.attempts}),
	'1 200 1000 -, 2 200 1000 -, 3 500 1000 HTTP status 500, 3 500 1000 HTTP status 500, 3 500 1000 HTTP status 500',
	'each attempt has its status, the first 1000 bytes of the body, and no transport error');
is($node->safe_psql('postgres', q{
	SELECT bool_and(response_body = repeat('b', 1000)) FROM nextphone.attempts WHERE outbox_id = 1}),
	't', 'the body kept is its start');
is(receiver_get($port, '/_count'), '5', 'each attempt sent once');

# The worker goes on after closing those connections.
$node->safe_psql('postgres', qq{
	INSERT INTO nextphone.outbox (method, url, body) VALUES
	  ('POST', 'http://127.0.0.1:$port/after', '{}')});
wait_for($node, q{SELECT status = 'delivered' FROM nextphone.outbox WHERE url LIKE '%/after'},
	't', 'a request after them is delivered');

$node->stop;
done_testing();
