-- Template errors: each with its SQLSTATE and its position (line and
-- column, counted in characters from 1).  Syntax errors are 22023,
-- partials, parents and blocks 0A000 (not supported), a JSON body template
-- that is not JSON 22P02.
CREATE FUNCTION pg_temp.try(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE query;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- Mustache syntax.
SELECT template, pg_temp.try(format('SELECT nextphone.render(%L, %L)', template, '{}')) AS error
FROM (VALUES
  ('Hello {{name'),
  ('Hello {{{name}}'),
  ('{{! a comment never closed'),
  ('{{#items}}<li>{{.}}</li>'),
  ('text{{/items}}'),
  ('{{#a}}{{#b}}{{/a}}{{/b}}'),
  ('{{}}'),
  ('{{  }}'),
  ('{{#}}{{/}}'),
  ('{{first name}}'),
  ('{{a..b}}'),
  ('{{.a}}'),
  ('{{=<%=}}'),
  ('{{= <% %> x =}}'),
  ('{{=<= =>=}}'),
  ('{{> header}}'),
  ('{{< base}}{{/base}}'),
  ('{{$title}}default{{/title}}'),
  (E'line 1\nline 2 {{#open}}\nline 3'),
  (E'é ü {{'),
  (E'{{=<% %>=}}\n<%name')
) AS t(template);

-- The same errors from template_variables, and again (a template that
-- fails to parse is not cached).
SELECT pg_temp.try($$SELECT nextphone.template_variables('{{#a}}')$$) AS error;
SELECT pg_temp.try($$SELECT nextphone.template_variables('{{#a}}')$$) AS error;

-- JSON body templates must be valid JSON; keys are literal.
SELECT template, pg_temp.try(format('SELECT nextphone.render_json(%L, %L)', template, '{"k": "v"}')) AS error
FROM (VALUES
  (''),
  ('not json'),
  ('{"a": 1,}'),
  ('{"a" 1}'),
  ('{"a": "unterminated}'),
  ('{"a": 01}'),
  ('[1, 2'),
  ('{"a": 1} {"b": 2}'),
  (E'{"a": "tab\there"}'),
  ('{"a": "\x"}'),
  ('{"a": "\u00"}'),
  ('{"a": "\ud800"}'),
  ('{"a": "\u0000"}'),
  ('{"{{k}}": 1}'),
  ('{"key {{k}}": 1}'),
  (E'{\n  "a": "{{#k}}"\n}')
) AS t(template);

-- NULL in, NULL out.
SELECT nextphone.render(NULL, '{}') IS NULL AS null_template,
       nextphone.render('x', NULL) IS NULL AS null_vars,
       nextphone.render_json(NULL::text, '{}') IS NULL AS null_json,
       nextphone.template_variables(NULL) IS NULL AS null_variables;

-- Sections nested over lists multiply (here 10^20 steps, with no output;
-- then 10^6 copies of a 1,000-byte value): a rendering stops after a million
-- steps, or 64 MB of output, whichever comes first, long before it would
-- otherwise end; and it can be cancelled like any statement.
SELECT nextphone.render(repeat('{{#l}}', 20) || repeat('{{/l}}', 20),
                        '{"l": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}', on_missing => 'empty');
SELECT nextphone.render(repeat('{{#l}}', 6) || '{{v}}' || repeat('{{/l}}', 6),
                        jsonb_build_object('l', '[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]'::jsonb, 'v', repeat('x', 1000)));
SET statement_timeout = '50ms';
SELECT nextphone.render(repeat('{{#l}}', 20) || repeat('{{/l}}', 20),
                        '{"l": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}', on_missing => 'empty');
RESET statement_timeout;
