-- The audit trigger's minimisation (migration 20261130043601) rebuilt every audited row's JSON
-- when the table has a column to replace, even when that column was empty: a daily job's
-- 38,000-row update of renewal_cases (lost_reason null in almost every row) paid a JSON
-- concatenation per row for nothing. The expression now replaces only when one of those values
-- (before or after) is set; rows without them are stored exactly as before the minimisation.

create or replace function private.audit_row_sql(table_name text, this_alias text, other_alias text default null)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when table_name = 'consents' then format('(to_jsonb(%I) - ''evidence'')', this_alias)
    when count(k) = 0 then format('to_jsonb(%I)', this_alias)
    else format('case when num_nonnulls(%s) = 0 then to_jsonb(%I) else to_jsonb(%I)%s end',
      string_agg(format('%I.%I', this_alias, k)
                 || case when other_alias is not null then format(', %I.%I', other_alias, k) else '' end,
                 ', '),
      this_alias, this_alias,
      string_agg(
        case when other_alias is null
          then format(' || jsonb_build_object(%L, case when %I.%I is not null then ''[redacted]'' end)',
                      k, this_alias, k)
          else format(' || jsonb_build_object(%L, case when %I.%I is distinct from %I.%I '
                      'then ''[redacted: changed]'' when %I.%I is not null then ''[redacted]'' end)',
                      k, this_alias, k, other_alias, k, this_alias, k)
        end, ''))
  end
  from unnest(private.audit_redacted_columns(table_name)) as k
$$;

comment on function private.audit_row_sql(text, text, text) is
  'The SQL expression private.tg__audit stores for a row of table_name read as this_alias: its '
  'JSON less consents.evidence, with private.audit_redacted_columns replaced (compared with '
  'other_alias, the row before an update, when given) when any of them is set (before or after), '
  'else the JSON as it is. Works on the record, so a row without those values costs nothing more.';
