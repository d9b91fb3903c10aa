-- The request id a REST caller sends is theirs to choose: the audit log now keeps it only when it
-- has the shape the API accepts for X-Request-Id (1 to 255 letters, digits, _, - or =, Hono's
-- request-id rule), so a caller cannot write a page of text, or something that looks like
-- another request's id with spaces or quotes, into every audit row of their writes. The
-- functions' own request.id (always a generated or already checked id) is kept as it is.

create or replace function private.current_request_id() returns text
language sql
stable
set search_path = ''
as $$
  select coalesce(
    nullif(current_setting('request.id', true), ''),
    (select h.id
       from (select nullif(nullif(current_setting('request.headers', true), ''), 'null')::json
                      ->> 'x-request-id' as id) h
      where h.id ~ '^[A-Za-z0-9_=-]{1,255}$'))
$$;

comment on function private.current_request_id() is
  'The id of the API request running this transaction: request.id (set by the functions), else '
  'the X-Request-Id header PostgREST passed in request.headers when it is 1 to 255 letters, '
  'digits, _, - or =; null for jobs and for any other header value.';
