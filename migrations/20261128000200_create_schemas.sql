-- `private` holds helpers, security definer functions and queue internals: never exposed through
-- the API. `analytics` holds read-only views for analysts and dashboards.

create schema if not exists private;
comment on schema private is
  'Internal helpers and tables. Not exposed through the API; RLS helpers here are called by policies.';
revoke all on schema private from public;
-- Policies run as the caller, so the caller needs to reach the helper functions they call.
grant usage on schema private to authenticated, service_role;

create schema if not exists analytics;
comment on schema analytics is
  'Read-only views for analysts and dashboards, with personal data masked.';
revoke all on schema analytics from public;
