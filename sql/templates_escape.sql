-- Escaping follows where a value lands.  The same hostile values (quotes,
-- backslashes, control characters, U+2028, emoji, </script>, CRLF, %, &, #,
-- spaces) through each escape of nextphone.render, then in a JSON body and
-- a URL.
\pset null '(null)'
CREATE TEMP TABLE hostile (label text, vars jsonb);
INSERT INTO hostile VALUES
  ('quotes',        jsonb_build_object('v', $$it's "quoted"$$)),
  ('backslash',     jsonb_build_object('v', 'C:\path\n')),
  ('control chars', jsonb_build_object('v', E'tab\there\x01\x1f bell\x07')),
  ('U+2028',        jsonb_build_object('v', E'line\u2028sep\u2029par')),
  ('emoji',         jsonb_build_object('v', 'call me 📞 ☎')),
  ('script',        jsonb_build_object('v', '</script><script>alert(1)</script>')),
  ('CRLF',          jsonb_build_object('v', E'a\r\nInjected: yes')),
  ('percent',       jsonb_build_object('v', '100% & #1 a+b=c?')),
  ('spaces',        jsonb_build_object('v', '  two  spaces  '));

-- escape => 'none' (the default): the value as it is.
SELECT label, nextphone.render('[{{v}}]', vars) AS none FROM hostile;

-- escape => 'html': Mustache's & " < > (the quote ' is left as it is).
SELECT label, nextphone.render('[{{v}}]', vars, escape => 'html') AS html FROM hostile;

-- escape => 'json': the contents of a JSON string, which parses back to the value.
SELECT label, nextphone.render('[{{v}}]', vars, escape => 'json') AS json,
       (('"' || nextphone.render('{{v}}', vars, escape => 'json') || '"')::jsonb)
         = vars->'v' AS round_trips
FROM hostile;

-- escape => 'url': percent-encoding, only A-Z a-z 0-9 - . _ ~ kept.
SELECT label, nextphone.render('[{{v}}]', vars, escape => 'url') AS url FROM hostile;

-- {{{v}}} and {{&v}} are never escaped by render (Mustache's meaning).
SELECT nextphone.render('{{{v}}} {{&v}}', '{"v": "<&>"}', escape => 'html');

-- In a JSON body every string is JSON-escaped, triple mustache or not, and
-- the result is valid JSON holding exactly the value.
SELECT label, nextphone.render_json('{"whole": "{{v}}", "text": "<{{{v}}}>"}', vars) AS body,
       (nextphone.render_json('{"whole": "{{v}}", "text": "<{{{v}}}>"}', vars)::jsonb->>'text')
         = '<' || (vars->>'v') || '>' AS text_kept
FROM hostile;

-- In a URL every value is percent-encoded, triple mustache or not.
SELECT label, nextphone.render_url('https://example.com/c/{{v}}?q={{{v}}}', vars) AS url
FROM hostile;
DROP TABLE hostile;
