-- The erasure's registry (private.personal_data_columns, migration 20261130043510) learns the
-- audit log's request id (migration 20261130043601): the functions' request id or PostgREST's
-- X-Request-Id, an opaque id, kept.
insert into private.personal_data_columns (table_name, column_name, treatment, why) values
  ('public.audit_log', 'request_id', 'kept', 'The API request''s id: opaque, no personal data.');
