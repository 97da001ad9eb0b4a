-- Templates: Mustache core syntax rendered by nextphone.render, and the
-- guide's webhook body rendered by nextphone.render_json.
\pset null '(null)'

-- Interpolation: {{x}} escapes as the escape argument says (none by
-- default); {{{x}}} and {{&x}} never escape.
SELECT nextphone.render('Hello, {{name}}!', '{"name": "John Smith"}');
SELECT nextphone.render('{{v}} | {{{v}}} | {{&v}}', '{"v": "<b>&</b>"}', escape => 'html');
SELECT nextphone.render('{{ name }} and {{name}} are the same tag', '{"name": "x"}');

-- Every JSON type as text: strings as they are, numbers exactly as jsonb
-- holds them, true/false, null as nothing, arrays and objects as JSON.
SELECT nextphone.render('[{{s}}] [{{i}}] [{{d}}] [{{big}}] [{{t}}] [{{f}}] [{{n}}] [{{a}}] [{{o}}]',
  '{"s": "text", "i": 42, "d": 5000.00, "big": 9007199254740993, "t": true, "f": false,
    "n": null, "a": [1, "two"], "o": {"k": "v"}}');

-- Dotted names, resolved through the context stack.
SELECT nextphone.render('{{contact.name}} <{{contact.email}}>',
  '{"contact": {"name": "John", "email": "john@example.com"}}');
SELECT nextphone.render('{{#a}}{{b.c}}{{/a}}', '{"a": {"b": {}}, "b": {"c": "outer"}}',
  on_missing => 'empty');

-- Sections: repeated for each element of an array, entered once for an
-- object or other truthy value, skipped for falsey values (false, null,
-- missing, [] and "").  {{.}} is the current element.
SELECT nextphone.render('{{#items}}<{{.}}>{{/items}}', '{"items": ["a", 2, true]}');
SELECT nextphone.render('{{#people}}{{name}} ({{age}}); {{/people}}',
  '{"people": [{"name": "Ann", "age": 31}, {"name": "Bo", "age": 4}]}');
SELECT nextphone.render('{{#contact}}{{name}}{{/contact}}', '{"contact": {"name": "Ann"}}');
SELECT v AS value,
       nextphone.render('{{#v}}truthy{{/v}}{{^v}}falsey{{/v}}', jsonb_build_object('v', v)) AS rendered
FROM (VALUES ('true'::jsonb), ('false'), ('null'), ('[]'), ('[0]'), ('""'), ('" "'),
             ('0'), ('{}')) AS t(v);
SELECT nextphone.render('{{#missing}}shown{{/missing}}{{^missing}}not collected{{/missing}}', '{}');

-- Comments and delimiter changes.
SELECT nextphone.render('a{{! a comment }}b{{!
   spanning lines }}c', '{}');
SELECT nextphone.render('{{=<% %>=}}<% x %> {{x}} <%={{ }}=%>{{x}}', '{"x": 1}');

-- Standalone lines: a section, comment or delimiter tag alone on its line
-- takes the line's indentation and line end with it.
SELECT nextphone.render(E'Items:\n  {{#items}}\n  - {{.}}\n  {{/items}}\n  {{! done }}\nEnd', '{"items": ["a", "b"]}');

-- Variables a template uses, in order of first use.
SELECT nextphone.template_variables('{{greeting}}, {{contact.name}}! {{#items}}{{.}}{{label}}{{/items}} {{^vip}}{{/vip}} {{secret.API_KEY}} {{greeting}}');
SELECT nextphone.template_variables('no tags at all');

-- The guide's body template with its sample values gives exactly the
-- guide's sample output (spacing and key order kept).
SELECT nextphone.render_json($${
  "contact": {
    "name": "{{first_name}}",
    "phone": "{{caller_number}}",
    "email": "{{email}}"
  },
  "lead_source": "NextPhone AI",
  "notes": "{{message}}"
}$$, '{"first_name": "John Smith", "caller_number": "+15551234567",
       "email": "john@example.com",
       "message": "Needs roof inspection, mentioned leak in northwest corner"}');

-- The guide's webhook configuration body template, with the built-in
-- caller_number and the declared parameters (one not collected: null).
SELECT nextphone.render_json('{
    "first_name": "{{first_name}}",
    "phone": "{{caller_number}}",
    "email": "{{email}}",
    "company": "{{company_name}}",
    "notes": "{{message}}",
    "source": "NextPhone AI"
  }', '{"first_name": "Test User", "caller_number": "+15551234567",
        "email": "test@example.com", "company_name": null,
        "message": "This is a test webhook"}');

-- The same, compared with the guide's sample output byte for byte.
SELECT nextphone.render_json($${
  "contact": {
    "name": "{{first_name}}",
    "phone": "{{caller_number}}",
    "email": "{{email}}"
  },
  "lead_source": "NextPhone AI",
  "notes": "{{message}}"
}$$, '{"first_name": "John Smith", "caller_number": "+15551234567",
       "email": "john@example.com",
       "message": "Needs roof inspection, mentioned leak in northwest corner"}')::text
  = $${
  "contact": {
    "name": "John Smith",
    "phone": "+15551234567",
    "email": "john@example.com"
  },
  "lead_source": "NextPhone AI",
  "notes": "Needs roof inspection, mentioned leak in northwest corner"
}$$ AS same_as_guide;

-- Parsed templates are cached per backend, in a bounded cache: a thousand
-- distinct templates (more than it holds) all render right, evicting older ones.
SELECT count(*) AS rendered,
       count(*) FILTER (WHERE nextphone.render('{{n}}-' || i || '-{{#f}}{{n}}{{/f}}',
                                               jsonb_build_object('n', i, 'f', true)) = i || '-' || i || '-' || i) AS correct
FROM generate_series(1, 1000) AS i;
SELECT nextphone.render('{{n}}-' || 1 || '-{{#f}}{{n}}{{/f}}', '{"n": 1, "f": false}');
