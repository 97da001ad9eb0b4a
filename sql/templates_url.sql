-- URL templates (nextphone.render_url): scheme, host and port are literal;
-- tags stand only in the path and the query; every value is
-- percent-encoded (RFC 3986: only A-Z a-z 0-9 - . _ ~ are kept).
\pset null '(null)'

SELECT nextphone.render_url('https://crm.example.com:8443/api/leads/{{lead_id}}?source={{source}}&budget={{budget}}',
  '{"lead_id": 42, "source": "NextPhone AI", "budget": 5000.00}');

-- A value cannot add path segments, a query or a fragment of its own.
SELECT nextphone.render_url('https://example.com/files/{{name}}', '{"name": "../../etc/passwd?x=1#frag"}');

-- Nor remove one: "." and ".." are unreserved characters only, and as a
-- whole segment they would be resolved (by libcurl, or by the receiver) to
-- another path, so a rendered path with such a segment is refused.  In a
-- segment with more, or in the query, they are plain text.
SELECT nextphone.render_url('https://example.com/api/leads/{{id}}/notes', '{"id": ".."}');
SELECT nextphone.render_url('https://example.com/api/leads/{{id}}', '{"id": "."}');
SELECT nextphone.render_url('https://example.com/api/leads/{{id}}/notes', '{"id": "..."}');
SELECT nextphone.render_url('https://example.com/api/leads/v{{id}}?up={{id}}#{{id}}', '{"id": ".."}');

-- Non-ASCII text is percent-encoded as UTF-8.
SELECT nextphone.render_url('http://example.com/q?city={{city}}', '{"city": "São Paulo"}');

-- Sections shape the query.
SELECT nextphone.render_url('https://example.com/search?{{#tags}}tag={{.}}&{{/tags}}limit=10',
  '{"tags": ["roof repair", "a&b"]}');

-- The scheme is case-insensitive; a template without tags is checked too.
SELECT nextphone.render_url('HTTPS://Example.com/static', '{}');

-- Tags in the scheme, the host or the port are refused.
SELECT nextphone.render_url('{{scheme}}://example.com/', '{"scheme": "https"}');
SELECT nextphone.render_url('https://{{host}}/api', '{"host": "evil.example"}');
SELECT nextphone.render_url('https://api.{{domain}}/x', '{"domain": "example.com"}');
SELECT nextphone.render_url('https://example.com:{{port}}/x', '{"port": 8080}');
SELECT nextphone.render_url('https://example.com{{path}}', '{"path": "/x"}');
SELECT nextphone.render_url('http{{s}}://example.com/', '{"s": "s"}');

-- Only http and https.
SELECT nextphone.render_url('ftp://example.com/{{f}}', '{"f": "x"}');
SELECT nextphone.render_url('javascript:alert({{x}})', '{"x": 1}');
SELECT nextphone.render_url('https:///no-host', '{}');
SELECT nextphone.render_url('https://exa mple.com/', '{}');
