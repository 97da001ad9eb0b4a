-- The extension's objects live in schema "nextphone" and nothing is readable by PUBLIC.
SELECT extname, extversion, extrelocatable, n.nspname
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'nextphone';

SELECT c.relname, c.relpersistence
  FROM pg_class c
 WHERE c.relnamespace = 'nextphone'::regnamespace AND c.relkind = 'r'
 ORDER BY 1;

-- Every table has a comment.
SELECT c.relname
  FROM pg_class c
 WHERE c.relnamespace = 'nextphone'::regnamespace AND c.relkind IN ('r', 'v')
   AND obj_description(c.oid, 'pg_class') IS NULL;

-- PUBLIC has no privilege on the schema.
SELECT has_schema_privilege('public', 'nextphone', 'USAGE') AS public_usage;

-- Phone numbers are E.164.
INSERT INTO nextphone.businesses (receiving_number, owner_name) VALUES ('555-1234', 'Acme');
INSERT INTO nextphone.businesses (receiving_number, owner_name) VALUES ('+15559876543', 'Acme Contracting');
SELECT receiving_number, owner_name FROM nextphone.businesses;
DELETE FROM nextphone.businesses;
