-- The network guard: which addresses a delivery may connect to, and which
-- URLs are accepted at configuration and enqueue time.
--
-- The delivery worker runs the same address check on every address libcurl
-- is about to connect to, after DNS (see test/t/ for deliveries).  Here the
-- classifier is called through address_refusal(inet), which says why an
-- address is refused (NULL: allowed).

-- The defaults: no internal network allowed, http allowed, the system CAs.
SHOW nextphone.allowed_networks;
SHOW nextphone.require_https;
SHOW nextphone.ca_file;

CREATE TEMP TABLE samples (addr inet, what text);
INSERT INTO samples VALUES
  ('0.0.0.0', 'unspecified'),
  ('0.1.2.3', '"this network"'),
  ('10.0.0.1', 'RFC 1918'),
  ('10.255.255.255', 'RFC 1918, last'),
  ('100.64.0.1', 'CGNAT'),
  ('100.127.255.255', 'CGNAT, last'),
  ('127.0.0.1', 'loopback'),
  ('127.255.255.254', 'loopback, elsewhere'),
  ('169.254.169.254', 'cloud metadata'),
  ('169.254.0.1', 'link-local'),
  ('172.16.0.1', 'RFC 1918'),
  ('172.31.255.255', 'RFC 1918, last'),
  ('192.0.0.8', 'IETF protocol assignments'),
  ('192.0.2.1', 'TEST-NET-1'),
  ('192.88.99.1', '6to4 relay'),
  ('192.168.1.1', 'RFC 1918'),
  ('198.18.0.1', 'benchmarking'),
  ('198.19.255.255', 'benchmarking, last'),
  ('198.51.100.7', 'TEST-NET-2'),
  ('203.0.113.9', 'TEST-NET-3'),
  ('224.0.0.1', 'multicast'),
  ('239.255.255.250', 'multicast (SSDP)'),
  ('240.0.0.1', 'reserved'),
  ('255.255.255.255', 'broadcast'),
  -- public neighbours of the ranges above: allowed
  ('1.1.1.1', 'public'),
  ('11.0.0.1', 'public, after 10/8'),
  ('100.63.255.255', 'public, before CGNAT'),
  ('100.128.0.0', 'public, after CGNAT'),
  ('172.15.255.255', 'public, before 172.16/12'),
  ('172.32.0.0', 'public, after 172.16/12'),
  ('192.169.0.1', 'public, after 192.168/16'),
  ('198.20.0.1', 'public, after 198.18/15'),
  ('223.255.255.255', 'public, before multicast'),
  -- IPv6
  ('::', 'unspecified'),
  ('::1', 'loopback'),
  ('64:ff9b:1::1', 'local-use NAT64'),
  ('100::1', 'discard-only'),
  ('2001::1', 'Teredo (IETF protocol assignments)'),
  ('2001:db8::1', 'documentation'),
  ('2002:7f00:1::1', '6to4'),
  ('3fff::1', 'documentation'),
  ('fc00::1', 'ULA'),
  ('fd12:3456::1', 'ULA'),
  ('fe80::1', 'link-local'),
  ('febf:ffff::1', 'link-local, last'),
  ('fec0::1', 'site-local'),
  ('ff02::1', 'multicast'),
  ('4000::1', 'outside global unicast'),
  ('2606:4700:4700::1111', 'public'),
  ('2a00:1450:4001::200e', 'public');

SELECT addr, what, nextphone.address_refusal(addr) AS refusal
  FROM samples ORDER BY family(addr), addr;

-- address_allowed() is the same decision as a boolean.
SELECT count(*) FILTER (WHERE nextphone.address_allowed(addr)) AS allowed,
       count(*) FILTER (WHERE NOT nextphone.address_allowed(addr)) AS refused,
       bool_and(nextphone.address_allowed(addr) = (nextphone.address_refusal(addr) IS NULL)) AS consistent
  FROM samples;

-- Every IPv4 address in IPv6 clothing is judged by the IPv4 address:
-- IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, deprecated: its
-- public addresses are refused too) and NAT64 (64:ff9b::a.b.c.d).
SELECT addr AS v4,
       nextphone.address_refusal(('::ffff:' || host(addr))::inet) AS mapped,
       nextphone.address_refusal(('::' || host(addr))::inet) AS compatible,
       nextphone.address_refusal(('64:ff9b::' || host(addr))::inet) AS nat64
  FROM samples WHERE family(addr) = 4
 ORDER BY addr;

-- The hexadecimal spelling of a mapped address is the same address.
SELECT nextphone.address_refusal('::ffff:7f00:1') AS mapped_hex,
       nextphone.address_refusal('::ffff:a9fe:a9fe') AS metadata_hex;

-- nextphone.allowed_networks lets chosen internal networks through (a CIDR
-- list).  It covers the IPv6 forms of the IPv4 networks it lists.
SET nextphone.allowed_networks = '10.1.0.0/16, 127.0.0.1/32,fd00:1234::/32';
SHOW nextphone.allowed_networks;
SELECT a AS addr, nextphone.address_refusal(a::inet) AS refusal
  FROM unnest(ARRAY['10.1.2.3', '10.2.0.1', '127.0.0.1', '127.0.0.2', '::ffff:127.0.0.1',
                    '::127.0.0.1', '64:ff9b::a01:203', '::1', 'fd00:1234::5', 'fd00:1235::5',
                    '169.254.169.254']) AS a;

-- Listing a network that is public anyway changes nothing; an empty list
-- allows no internal address again.
SET nextphone.allowed_networks = '8.8.8.0/24';
SELECT nextphone.address_allowed('8.8.8.8') AS public, nextphone.address_allowed('10.1.2.3') AS internal;
SET nextphone.allowed_networks = '';
SELECT nextphone.address_allowed('127.0.0.1') AS loopback;

-- Spaces, tabs and newlines separate entries as commas do.
SET nextphone.allowed_networks = E'10.1.0.0/16\t127.0.0.1 \n::1';
SELECT nextphone.address_allowed('10.1.2.3') AND nextphone.address_allowed('127.0.0.1')
       AND nextphone.address_allowed('::1') AS all_three;
SET nextphone.allowed_networks = '';

-- Malformed lists are refused and the setting keeps its value.
SET nextphone.allowed_networks = '10.0.0.0/33';
SET nextphone.allowed_networks = '10.0.0.1/8';
SET nextphone.allowed_networks = 'localhost';
SET nextphone.allowed_networks = '10.0.0.0/8; 192.168.0.0/16';
SET nextphone.allowed_networks = 'fe80::/10/2';
SHOW nextphone.allowed_networks;
RESET nextphone.allowed_networks;

-- Only a superuser may change the guard.
CREATE ROLE netguard_app;
SET ROLE netguard_app;
SET nextphone.allowed_networks = '0.0.0.0/0';
SET nextphone.require_https = off;
SET nextphone.ca_file = '/tmp/evil.pem';
RESET ROLE;
DROP ROLE netguard_app;

-- URLs: libcurl's parser, only http and https, no credentials, a valid
-- host.  check_url() returns the URL as deliveries will use it.
SELECT nextphone.check_url('https://crm.example.com/api/nextphone-webhook');
SELECT nextphone.check_url('HTTPS://CRM.Example.com:8443/hook?x=1&y=%20z');
SELECT nextphone.check_url('http://8.8.8.8/hook');
SELECT nextphone.check_url('https://[2606:4700:4700::1111]/hook');
SELECT nextphone.check_url('https://crm.example.com./hook');
SELECT nextphone.check_url('https://internal_host.example.com/hook');

SELECT nextphone.check_url('file:///etc/passwd');
SELECT nextphone.check_url('gopher://crm.example.com:70/_GET');
SELECT nextphone.check_url('ftp://crm.example.com/');
SELECT nextphone.check_url('dict://crm.example.com:11211/stat');
SELECT nextphone.check_url('ldap://crm.example.com/');
SELECT nextphone.check_url('javascript:alert(1)');
SELECT nextphone.check_url('crm.example.com/hook');
SELECT nextphone.check_url('https://user:password@crm.example.com/hook');
SELECT nextphone.check_url('https://user@crm.example.com/hook');
SELECT nextphone.check_url('https://@crm.example.com/hook');
SELECT nextphone.check_url('https:///crm.example.com/hook');
SELECT nextphone.check_url('https://crm.example.com:0/hook');
SELECT nextphone.check_url('https://crm.example.com:65536/hook');
SELECT nextphone.check_url('https://crm example.com/hook');
SELECT nextphone.check_url('https://crm..example.com/hook');
SELECT nextphone.check_url('https://-crm.example.com/hook');
SELECT nextphone.check_url('https://crm.exa$mple.com/hook');
SELECT nextphone.check_url('https://1.2.3.4.5/hook');
SELECT nextphone.check_url('https://[fe80::1%25eth0]/hook');
SELECT nextphone.check_url('https://[::1/hook');
SELECT nextphone.check_url(E'https://crm.example.com/hook\r\nX-Injected: 1');
SELECT nextphone.check_url('https://' || repeat('a', 64) || '.example.com/');

-- Numeric host forms.  libcurl rewrites every IPv4 spelling (decimal,
-- octal, hexadecimal, shortened) to the dotted quad, so the check sees the
-- address and refuses it; IPv6 forms stay bracketed and are classified as
-- they are.
SELECT nextphone.check_url('http://2130706433/');
SELECT nextphone.check_url('http://0x7f.1/');
SELECT nextphone.check_url('http://017700000001/');
SELECT nextphone.check_url('http://127.1/');
SELECT nextphone.check_url('http://0x7f000001/');
SELECT nextphone.check_url('http://2852039166/latest/meta-data/');
SELECT nextphone.check_url('http://[::ffff:127.0.0.1]/');
SELECT nextphone.check_url('http://[::ffff:7f00:1]/');
SELECT nextphone.check_url('http://[::]/');
SELECT nextphone.check_url('http://0/');

-- At connect time what counts is the address the host resolves to:
-- url_addresses() shows it, here for the same forms (the resolver would
-- accept them unnormalised too).  The worker refuses each of these.
SELECT u AS url, a.*
  FROM unnest(ARRAY['http://2130706433/', 'http://0x7f.1/', 'http://017700000001/',
                    'http://2852039166/', 'http://[::ffff:127.0.0.1]/',
                    'http://[::ffff:a9fe:a9fe]/', 'http://[::127.0.0.1]/',
                    'http://0/', 'http://8.8.8.8/']) AS u,
       nextphone.url_addresses(u) AS a;

-- An allowed network admits its URLs too.
SET nextphone.allowed_networks = '127.0.0.0/8';
SELECT nextphone.check_url('http://127.0.0.1:8080/hook');
SELECT nextphone.check_url('http://0x7f.1:8080/hook');
RESET nextphone.allowed_networks;

-- nextphone.require_https refuses plain http.
SET nextphone.require_https = on;
SELECT nextphone.check_url('http://crm.example.com/hook');
SELECT nextphone.check_url('https://crm.example.com/hook');
RESET nextphone.require_https;

DROP TABLE samples;

-- The same check guards configuration and the queue (a trigger on each
-- table): a webhook's URL template, checked as written.
INSERT INTO nextphone.webhooks (tool_name, url) VALUES ('guardTest', 'http://0x7f.1/hook');
INSERT INTO nextphone.webhooks (tool_name, url) VALUES ('guardTest', 'https://user:pw@crm.example.com/hook');
INSERT INTO nextphone.webhooks (tool_name, url) VALUES ('guardTest', 'https://{{subdomain}}.example.com/hook');
INSERT INTO nextphone.webhooks (tool_name, url)
VALUES ('guardTest', 'https://crm.example.com/leads/{{first_name}}?note={{message}}')
RETURNING tool_name, url;
UPDATE nextphone.webhooks SET url = 'http://169.254.169.254/latest/meta-data/' WHERE tool_name = 'guardTest';
SET nextphone.require_https = on;
UPDATE nextphone.webhooks SET url = 'http://crm.example.com/hook' WHERE tool_name = 'guardTest';
RESET nextphone.require_https;
DELETE FROM nextphone.webhooks WHERE tool_name = 'guardTest';

-- A delivery queued explicitly with a refused URL is an error and nothing
-- is stored; one queued by an event is stored as dead with the reason, so
-- that recording the call or lead never fails on it.
INSERT INTO nextphone.outbox (method, url, body)
VALUES ('POST', 'http://2852039166/latest/meta-data/', '{}');
-- (Saying "event" does not make an insert an event's.)
INSERT INTO nextphone.outbox (event, method, url, body)
VALUES ('lead.created', 'POST', 'http://[::ffff:127.0.0.1]/hook', '{}');
-- A webhook configured while its network was allowed, then no longer:
SET nextphone.allowed_networks = '127.0.0.0/8';
SELECT nextphone.create_webhook('{"type": "http", "tool_name": "loopHook", "http_method": "POST",
  "url": "http://[::ffff:127.0.0.1]/hook", "body_template": {"who": "{{first_name}}"},
  "events": ["lead.created"]}') > 0 AS created;
RESET nextphone.allowed_networks;
INSERT INTO nextphone.leads (first_name) VALUES ('Looped');
SELECT event, status, queued, last_error FROM nextphone.outbox WHERE webhook = 'loopHook';
SELECT count(*) AS leads FROM nextphone.leads WHERE first_name = 'Looped';
DELETE FROM nextphone.outbox WHERE webhook = 'loopHook';
DELETE FROM nextphone.leads WHERE first_name = 'Looped';
SELECT nextphone.drop_webhook('loopHook');
