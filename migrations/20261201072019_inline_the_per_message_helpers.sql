-- The small helpers every message and every changed case calls are inlined or skipped, not each
-- a function call with a search path of its own to set and reset.
--
-- Profiled on the 1,000,000-policy book (bench/renewals.ts, a regular day; pg_stat_user_functions,
-- 20,000 reminders and 2,705 lapse notices): private.fill_template was called 39,782 times (the
-- body, and the subject that SMS and WhatsApp templates do not have), 0.3 s; private.format_inr
-- 39,782 times, 0.1 s; in the daily jobs private.setting 8,163 times, 0.15 s (18 µs a call: a
-- SQL function called from another one that is not inlined plans its inner query again on each
-- call), behind private.business_date in the stage check of every changed case, and
-- private.format_money 2,705 times, 0.1 s. A `set search_path` keeps Postgres from inlining a SQL
-- function and costs a setting change per call. These look up nothing by an unqualified name
-- (built-in functions and operators, found in pg_catalog first whatever the path, and private.*
-- written out), and none is a security definer (those keep an empty path:
-- tests/database/01_security_coverage), so they need no path of their own, as
-- private.case_stage_is_final (20261129184110):
--
-- * format_inr, format_money, business_date and render_template are one expression over their
--   arguments: inlined into the statements that use them. format_inr and format_money are stable,
--   not immutable: they call to_char, which is stable (it reads the locale settings), and
--   Postgres inlines no immutable function whose expression is less than immutable.
-- * fill_template (a query over the template's parts, not inlinable) is strict: a template
--   without a subject (parts null) costs no call. Its answer for a null template is null as
--   before; render_template, its other caller, passes an empty object for null variables, which
--   leaves every {{name}} as a null object did.

alter function private.format_inr(bigint) stable reset search_path;
alter function private.format_money(bigint, text) stable reset search_path;
alter function private.business_date(timestamptz) reset search_path;
alter function private.fill_template(text[], text[], jsonb) strict reset search_path;

create or replace function private.render_template(template text, variables jsonb) returns text
language sql immutable
as $$
  select private.fill_template(private.template_parts(template), private.template_names(template),
                               coalesce(variables, '{}'))
$$;

comment on function private.fill_template(text[], text[], jsonb) is
  'A template cut by template_parts / template_names, filled from the JSON object (values as '
  'text; a missing or null value leaves {{name}}). Values are not themselves filled. Strict: '
  'null when any argument is null (a template without a subject costs no call).';
