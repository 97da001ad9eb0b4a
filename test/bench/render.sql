-- Renders per second of the guide's body template with its sample values:
-- nextphone.render_json (cached template), the hand-written
-- jsonb_build_object(...) building the same object, and a PL/pgSQL loop of
-- replace() doing naive substitution.  Each method renders every row of a
-- table of :rows rows, :reps times; the best time counts.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS nextphone;

DROP TABLE IF EXISTS bench_calls;
CREATE TABLE bench_calls AS
SELECT 'John Smith'::text AS first_name, '+15551234567'::text AS caller_number,
       'john@example.com'::text AS email,
       'Needs roof inspection, mentioned leak in northwest corner'::text AS message,
       jsonb_build_object('first_name', 'John Smith', 'caller_number', '+15551234567',
                          'email', 'john@example.com',
                          'message', 'Needs roof inspection, mentioned leak in northwest corner') AS vars
FROM generate_series(1, :rows);
VACUUM ANALYZE bench_calls;

-- The naive way: replace each {{key}} by its text, one key at a time.
CREATE OR REPLACE FUNCTION pg_temp.naive_render(tpl text, vars jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	k text;
	v text;
BEGIN
	FOR k, v IN SELECT key, value FROM jsonb_each_text(vars) LOOP
		tpl := replace(tpl, '{{' || k || '}}', v);
	END LOOP;
	RETURN regexp_replace(tpl, '\{\{[^}]*\}\}', '', 'g');
END
$$;

CREATE OR REPLACE FUNCTION pg_temp.bench(reps int) RETURNS TABLE (method text, renders int, best_seconds numeric, renders_per_second bigint)
LANGUAGE plpgsql AS $$
DECLARE
	tpl constant text := '{
  "contact": {
    "name": "{{first_name}}",
    "phone": "{{caller_number}}",
    "email": "{{email}}"
  },
  "lead_source": "NextPhone AI",
  "notes": "{{message}}"
}';
	n int;
	i int;
	t0 timestamptz;
	best float8;
	m text;
BEGIN
	SELECT count(*) INTO n FROM bench_calls;
	FOREACH m IN ARRAY ARRAY['render_json', 'jsonb_build_object', 'plpgsql_replace'] LOOP
		best := NULL;
		FOR i IN 1..reps LOOP
			t0 := clock_timestamp();
			IF m = 'render_json' THEN
				PERFORM count(nextphone.render_json(tpl, vars)) FROM bench_calls;
			ELSIF m = 'jsonb_build_object' THEN
				PERFORM count(jsonb_build_object(
					'contact', jsonb_build_object('name', first_name, 'phone', caller_number, 'email', email),
					'lead_source', 'NextPhone AI',
					'notes', message)) FROM bench_calls;
			ELSE
				PERFORM count(pg_temp.naive_render(tpl, vars)) FROM bench_calls;
			END IF;
			best := least(best, extract(epoch FROM clock_timestamp() - t0));
		END LOOP;
		method := m;
		renders := n;
		best_seconds := round(best::numeric, 3);
		renders_per_second := round(n / best);
		RETURN NEXT;
	END LOOP;
END
$$;

-- The three produce the same object.
SELECT nextphone.render_json(t.tpl, vars)::jsonb = jsonb_build_object(
         'contact', jsonb_build_object('name', first_name, 'phone', caller_number, 'email', email),
         'lead_source', 'NextPhone AI', 'notes', message)
       AND pg_temp.naive_render(t.tpl, vars)::jsonb = nextphone.render_json(t.tpl, vars)::jsonb AS same_object
FROM (SELECT * FROM bench_calls LIMIT 1) b,
     (VALUES ('{"contact": {"name": "{{first_name}}", "phone": "{{caller_number}}", "email": "{{email}}"}, "lead_source": "NextPhone AI", "notes": "{{message}}"}')) AS t(tpl);

SELECT method, renders, best_seconds, renders_per_second,
       round(renders_per_second::numeric / max(renders_per_second) FILTER (WHERE method = 'jsonb_build_object') OVER (), 2) AS vs_jsonb_build_object,
       round(renders_per_second::numeric / max(renders_per_second) FILTER (WHERE method = 'plpgsql_replace') OVER (), 1) AS vs_plpgsql
FROM pg_temp.bench(:reps);
DROP TABLE bench_calls;
