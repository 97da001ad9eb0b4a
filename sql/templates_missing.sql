-- Missing variables: on_missing says what a tag naming one becomes.
-- (A variable present with the value null is not missing: it is falsey,
-- empty in text and null as a whole JSON value.)
\pset null '(null)'

-- 'error' (the default) names every missing variable, once each, in order.
SELECT nextphone.render('Hi {{first_name}} {{last_name}}, {{first_name}}! {{#x}}{{/x}}', '{}');
SELECT nextphone.render('Hi {{first_name}}', '{"last_name": "Smith"}');
SELECT nextphone.render_json('{"a": "{{a}}", "b": "x {{b.c}}"}', '{"b": {}}');
SELECT nextphone.render_url('https://example.com/{{id}}', '{}');

-- A missing section name is simply falsey, never an error.
SELECT nextphone.render('{{#vip}}VIP {{/vip}}{{^vip}}regular{{/vip}}', '{}');

-- 'empty': nothing in text; "" as a whole JSON value.
SELECT nextphone.render('[{{a}}] [{{{b}}}] [{{c.d}}]', '{"c": 1}', on_missing => 'empty');
SELECT nextphone.render_json('{"a": "{{a}}", "b": "x{{b}}x"}', '{}', on_missing => 'empty');

-- 'null': nothing in text; null as a whole JSON value.
SELECT nextphone.render('[{{a}}]', '{}', on_missing => 'null');
SELECT nextphone.render_json('{"a": "{{a}}", "b": "x{{b}}x"}', '{}', on_missing => 'null');

-- 'keep': the tag stays exactly as written (spacing, triple braces,
-- changed delimiters); in a JSON body the string stays as written.
SELECT nextphone.render('[{{ a }}] [{{{b}}}] [{{&c}}] {{=<% %>=}}[<%d.e%>] <%x%>', '{"x": 1}',
  on_missing => 'keep');
SELECT nextphone.render_json('{"a": "{{a}}", "b": "x {{ b }} {{c}}"}', '{"c": 3}', on_missing => 'keep');
SELECT nextphone.render_url('https://example.com/{{id}}/x', '{}', on_missing => 'keep');

-- A name found in an outer context is not missing; a broken dotted chain is.
SELECT nextphone.render('{{#contact}}{{name}} of {{company}}{{/contact}}',
  '{"contact": {"name": "Ann"}, "company": "Acme"}');
SELECT nextphone.render('{{contact.name.first}}', '{"contact": {"name": "Ann"}}',
  on_missing => 'keep');

-- An invalid mode is an error.
SELECT nextphone.render('x', '{}', on_missing => 'ignore');
SELECT nextphone.render('x', '{}', escape => 'xml');
