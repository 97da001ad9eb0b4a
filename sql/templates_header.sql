-- Header values (nextphone.render_header): rendered raw; a result holding
-- CR, LF or NUL is an error, never stripped.  Secrets are resolved only when
-- a request is sent: keep_secrets leaves every {{secret.NAME}} tag in place.
\pset null '(null)'

SELECT nextphone.render_header('Bearer {{token}}', '{"token": "abc.def-123"}');
SELECT nextphone.render_header('{{name}} <{{email}}>', '{"name": "O''Brien & Co", "email": "a@example.com"}');

-- Line breaks in the result are refused (header injection).
SELECT nextphone.render_header('{{v}}', jsonb_build_object('v', E'x\r\nX-Injected: 1'));
SELECT nextphone.render_header('{{v}}', jsonb_build_object('v', E'only\nLF'));
SELECT nextphone.render_header(E'literal\r', '{}');

-- keep_secrets: {{secret.NAME}} stays (in the default delimiters, whatever
-- the template used), present in the variables or not, while other missing
-- names still follow on_missing.
SELECT nextphone.render_header('Bearer {{secret.API_KEY}}', '{}', keep_secrets => true);
SELECT nextphone.render_header('{{=<% %>=}}<%user%>:<% secret.PASS %>', '{"user": "bot", "secret": {"PASS": "x"}}',
  keep_secrets => true);
SELECT nextphone.render_header('{{secret.KEY}} {{missing}}', '{}', keep_secrets => true);
SELECT nextphone.render_header('{{secret.KEY}} [{{missing}}]', '{}', on_missing => 'empty', keep_secrets => true);

-- ... and a second rendering with the secrets resolves them, as the worker does.
SELECT nextphone.render_header(
         nextphone.render_header('Bearer {{secret.API_KEY}} for {{owner_name}}',
                                 '{"owner_name": "Acme"}', keep_secrets => true),
         '{"secret": {"API_KEY": "s3cr3t"}}');

-- Without keep_secrets, secret.NAME is a variable like any other.
SELECT nextphone.render_header('Bearer {{secret.API_KEY}}', '{"secret": {"API_KEY": "direct"}}');

-- With keep_secrets a value cannot smuggle in a tag for the second rendering.
SELECT nextphone.render_header('Hello {{name}}', '{"name": "{{secret.API_KEY}}"}', keep_secrets => true);
-- ... nor two values that join into one: next to each other, repeated by a
-- section, or a value's brace next to a kept tag.
SELECT nextphone.render_header('{{a}}{{b}}', '{"a": "{", "b": "{secret.API_KEY}}"}', keep_secrets => true);
SELECT nextphone.render_header('{{#xs}}{{.}}{{/xs}}', '{"xs": ["{", "{secret.API_KEY}}"]}', keep_secrets => true);
SELECT nextphone.render_header('{{a}}{{secret.API_KEY}}', '{"a": "x{"}', keep_secrets => true);
-- Braces that form no tag are values like any other.
SELECT nextphone.render_header('{{a}} {{b}}', '{"a": "{", "b": "}"}', keep_secrets => true);
