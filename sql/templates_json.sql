-- JSON body templates (nextphone.render_json): the template is valid JSON,
-- rendered by walking it.  A string that is exactly one tag takes the
-- variable's own JSON value; other strings get the rendered text,
-- JSON-escaped; everything else is kept as written.
\pset null '(null)'

-- Whole-value substitution keeps every JSON type.
SELECT nextphone.render_json(
  '{"s": "{{s}}", "i": "{{i}}", "d": "{{d}}", "t": "{{t}}", "f": "{{f}}", "n": "{{n}}", "a": "{{a}}", "o": "{{o}}"}',
  '{"s": "text", "i": 42, "d": 3.14, "t": true, "f": false, "n": null, "a": [1, "two", null], "o": {"k": {"deep": [true]}}}');

-- Numbers print exactly as jsonb holds them: 5000.00 keeps its scale,
-- integers beyond 2^53 keep every digit, in whole values and in text.
SELECT nextphone.render_json('{"budget": "{{budget}}", "id": "{{id}}", "text": "{{budget}} / {{id}}", "e": "{{e}}"}',
  '{"budget": 5000.00, "id": 9007199254740993123, "e": 1.5e3}');

-- Triple mustache and {{&x}} are whole values too; {{ x }} with spaces as well.
SELECT nextphone.render_json('["{{{o}}}", "{{&o}}", "{{ o }}"]', '{"o": {"a": 1}}');

-- The implicit iterator {{.}} as a whole value is all the variables.
SELECT nextphone.render_json('{"all": "{{.}}"}', '{"a": 1, "b": [2]}');

-- A string with more than one tag, or text around a tag, is text.
SELECT nextphone.render_json('{"name": "{{first}} {{last}}", "budget": "${{budget}}", "n": "{{i}}{{i}}"}',
  '{"first": "John", "last": "Smith", "budget": 5000.00, "i": 7}');

-- Sections in strings: lists joined in text.
SELECT nextphone.render_json('{"services": "{{#services}}{{name}}{{^last}}, {{/last}}{{/services}}"}',
  '{"services": [{"name": "roof repair"}, {"name": "gutters", "last": true}]}');

-- Key order, duplicate keys, spacing, literal numbers and escapes of the
-- template are kept; only strings holding tags change.
SELECT nextphone.render_json(E'{ "z" : 1.50,"a":[ 1e2 , -0.0 ],\n\t"z": "{{v}}", "lit": "caf\\u00e9 \\"x\\"" }',
  '{"v": "second z"}');

-- A JSON null (a declared but uncollected parameter) is null as a whole
-- value and empty in text.
SELECT nextphone.render_json('{"company": "{{company}}", "line": "Company: {{company}}."}',
  '{"company": null}');

-- Nested templates: arrays and objects of strings with tags.
SELECT nextphone.render_json('{"contact": {"emails": ["{{email}}", "backup-{{email}}"]}, "tags": [["{{t}}"]]}',
  '{"email": "a@example.com", "t": false}');

-- Dotted names reach into the variables.
SELECT nextphone.render_json('{"city": "{{address.city}}", "zip": "{{address.zip}}"}',
  '{"address": {"city": "Springfield", "zip": "01101"}}');

-- A template without tags is returned as written; scalars are templates too.
SELECT nextphone.render_json('{"static": [true, null, "no tags"]}', '{}');
SELECT nextphone.render_json('"{{v}}"', '{"v": [1, 2]}');
SELECT nextphone.render_json('"hello {{v}}"', '{"v": "there"}');

-- The json overload takes the template as json, spacing kept.
SELECT nextphone.render_json('{"a" :  "{{a}}"}'::json, '{"a": 1}');

-- Whatever the values hold, the output is valid JSON.
SELECT nextphone.render_json('{"x": "{{v}}", "y": "[{{v}}]"}',
  jsonb_build_object('v', E'"}, "injected": true, {"\\\n')) ::jsonb;
