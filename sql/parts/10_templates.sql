-- nextphone: the template engine (Mustache, in C).
--
-- Templates use Mustache core syntax: {{name}}, {{{name}}} and {{&name}}
-- (unescaped), dotted names, {{.}}, sections {{#x}}...{{/x}}, inverted
-- sections {{^x}}...{{/x}}, comments {{! ... }} and delimiter changes
-- {{=<% %>=}}.  Partials, parents and blocks are refused.  Falsey values:
-- false, null, missing, [] and "".  Parsed templates are cached per backend.

CREATE FUNCTION nextphone.render(
    template text,
    vars jsonb,
    escape text DEFAULT 'none',
    on_missing text DEFAULT 'error')
RETURNS text
AS 'MODULE_PATHNAME', 'nextphone_render'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.render(text, jsonb, text, text) IS
  'Render a Mustache template with the variables of a jsonb object. escape: none, html (& " < >), json (JSON string contents) or url (percent-encoding, RFC 3986). on_missing: error (naming every missing variable), empty, null or keep (the tag stays as written).';

CREATE FUNCTION nextphone.render_json(
    template text,
    vars jsonb,
    on_missing text DEFAULT 'error')
RETURNS json
AS 'MODULE_PATHNAME', 'nextphone_render_json'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.render_json(text, jsonb, text) IS
  'Render a JSON body template by walking the JSON: a string that is exactly one tag takes the variable''s own JSON value, other strings get the rendered text, JSON-escaped; keys are literal; key order, duplicate keys and spacing are kept. on_missing: error, empty, null (a whole-value tag becomes null) or keep.';

CREATE FUNCTION nextphone.render_json(
    template json,
    vars jsonb,
    on_missing text DEFAULT 'error')
RETURNS json
AS 'MODULE_PATHNAME', 'nextphone_render_json'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.render_json(json, jsonb, text) IS
  'Render a JSON body template given as json (its text, spacing and key order are kept); as render_json(text, jsonb, text).';

CREATE FUNCTION nextphone.render_url(
    template text,
    vars jsonb,
    on_missing text DEFAULT 'error')
RETURNS text
AS 'MODULE_PATHNAME', 'nextphone_render_url'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.render_url(text, jsonb, text) IS
  'Render an http or https URL template: scheme, host and port are literal, tags stand only in the path and the query, and values are percent-encoded (RFC 3986 unreserved characters kept).';

CREATE FUNCTION nextphone.render_header(
    template text,
    vars jsonb,
    on_missing text DEFAULT 'error',
    keep_secrets boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'nextphone_render_header'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.render_header(text, jsonb, text, boolean) IS
  'Render an HTTP header value: raw text, and a result holding CR, LF or NUL is an error, never stripped. keep_secrets leaves every {{secret.NAME}} tag in the result, for the worker to resolve at send time.';

CREATE FUNCTION nextphone.template_variables(template text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'nextphone_template_variables'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION nextphone.template_variables(text) IS
  'The distinct variable names a template uses, in order of first use: section names and secret.NAME included, {{.}} not.';
