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

-- Every column of every table and view has a comment, and so has every
-- function.
SELECT c.relname, a.attname
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relnamespace = 'nextphone'::regnamespace AND c.relkind IN ('r', 'v')
   AND col_description(c.oid, a.attnum) IS NULL;
SELECT p.oid::regprocedure AS uncommented
  FROM pg_proc p
 WHERE p.pronamespace = 'nextphone'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL;

-- PUBLIC has no privilege on the schema, and may execute no function but
-- new_message_id(), the default of outbox.msg_id.
SELECT has_schema_privilege('public', 'nextphone', 'USAGE') AS public_usage;
SELECT p.oid::regprocedure AS public_may_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'nextphone'::regnamespace
   AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
                                     WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'));

-- Phone numbers are E.164.
INSERT INTO nextphone.businesses (receiving_number, owner_name) VALUES ('555-1234', 'Acme');
INSERT INTO nextphone.businesses (receiving_number, owner_name) VALUES ('+15559876543', 'Acme Contracting');
SELECT receiving_number, owner_name FROM nextphone.businesses;
DELETE FROM nextphone.businesses;
