-- Rows, not columns, were guarded: Supabase grants the API roles every privilege on public and
-- PostgREST exposes it, so a signed-in agent could rewrite an installment's amount or a case's
-- grace end inside a row RLS let them see. From here on the API roles may read tables (RLS decides
-- rows) and write only the columns the desk edits; amounts, dates, keys and who-did-it columns
-- change through service_role (imports, jobs, webhooks) or definer functions with their own checks.
-- TRUNCATE (exempt from RLS and from the audit triggers), TRIGGER and REFERENCES are nobody's.

do $$
declare
  tbl text;
begin
  for tbl in
    select c.relname from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p')
  loop
    execute format(
      'revoke insert, update, delete, truncate, trigger, references on public.%I from anon, authenticated',
      tbl);
  end loop;
end
$$;

-- Tables created later start the same way: readable under RLS, written only by grants they name.
alter default privileges for role postgres in schema public
  revoke insert, update, delete, truncate, trigger, references on tables from anon, authenticated;

-- Sequences feed keys and case numbers, which the API roles never choose.
revoke all on all sequences in schema public from anon, authenticated;
alter default privileges for role postgres in schema public
  revoke all on sequences from anon, authenticated;

-- What the desk edits. RLS decides whose rows; triggers decide the rules.
grant insert (full_name, phone, email, language, preferred_channel, city),
      update (full_name, phone, email, language, preferred_channel, city)
  on public.customers to authenticated;
grant insert (customer_id, channel, purpose, status, source, evidence),
      update (status, source, evidence)
  on public.consents to authenticated;
grant update (stage, assignee_id, priority, lost_reason) on public.renewal_cases to authenticated;
grant update (status, paid_at, reason) on public.outstanding_amounts to authenticated;
grant insert (parent_id, level, code, name),
      update (parent_id, code, name, active),
      delete
  on public.hierarchy_nodes to authenticated;
grant update (full_name, role, node_id, active) on public.profiles to authenticated;
grant update (value) on public.app_settings to authenticated;
grant insert (code, name, kind, active), update (code, name, kind, active), delete
  on public.vendors to authenticated;
grant insert (type, name, provider, fallback_provider, cost_per_message, daily_quota, enabled, settings),
      update (type, name, provider, fallback_provider, cost_per_message, daily_quota, enabled, settings),
      delete
  on public.channels to authenticated;

-- Policies that only granted what the grants now refuse would mislead a reader: drop them.
-- Profiles come from auth users; policies, cases and installments from imports and jobs; renewal
-- history (customers, policies) is never deleted through the API.
drop policy profiles_insert_admin on public.profiles;
drop policy policies_insert_admin on public.policies;
drop policy policies_update_admin on public.policies;
drop policy policies_delete_admin on public.policies;
drop policy renewal_cases_insert_admin on public.renewal_cases;
drop policy outstanding_amounts_insert_admin on public.outstanding_amounts;
drop policy customers_delete_admin on public.customers;
