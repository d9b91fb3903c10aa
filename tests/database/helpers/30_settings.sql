-- Settings past their rules. Every write of public.app_settings is checked against its key's rule
-- (private.setting_rules, migration 20261130230500); only the table's owner can still write past
-- the check, by switching its trigger off. The readers keep their fallbacks for such a value, and
-- the tests of those fallbacks write one with this. `settings` is {"KEY": value, ...}; every key
-- must exist. The check is back on when it returns (and stays on if the update fails). It alters
-- the table, so the call cannot sit in a query that reads app_settings: pass the values literally.
create or replace function tests.write_settings_unchecked(settings jsonb) returns void
language plpgsql
set search_path = ''
as $$
declare
  missing text;
begin
  select string_agg(n.key, ', ') into missing
    from jsonb_object_keys(settings) as n (key)
   where not exists (select 1 from public.app_settings s where s.key = n.key);
  if missing is not null then
    raise exception 'tests.write_settings_unchecked: no setting %', missing;
  end if;
  alter table public.app_settings disable trigger _050_check_value;
  update public.app_settings s set value = n.value
    from jsonb_each(settings) as n (key, value)
   where s.key = n.key;
  alter table public.app_settings enable always trigger _050_check_value;
end;
$$;
