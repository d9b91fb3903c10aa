-- The daily jobs' count of renewals nobody can work, read through the index on active policies by
-- end date over the renewal window only (migration 20261129001900 wrote it last). Its policies in
-- their window were bounded below (the longest grace) but above only per product line, which the
-- index cannot use: at 1,000,000 policies it read all 997,000 active policies ending from a month
-- ago on, and hashed every case to find the 2,851 without one (6.3 s under load). With the upper
-- bound of the longest lead too it reads the 332,000 in the window and asks the case index per
-- policy (2.3 s under the same load). What it counts is unchanged: the per-line bound still holds,
-- and no line's lead exceeds the longest.

create or replace function private.unassigned_renewals(as_of timestamptz default now()) returns integer
language plpgsql stable
set search_path = ''
set jit = off
as $$
declare
  today date := private.business_date(as_of);
  lead_days jsonb := private.setting('RENEWAL_LEAD_DAYS');
  grace jsonb := private.setting('GRACE_DAYS');
  longest_lead integer;
  longest_grace integer;
  waiting integer;
  stranded integer;
begin
  select greatest(max(value::integer), 0) into longest_lead from jsonb_each_text(lead_days);
  select max(value::integer) into longest_grace from jsonb_each_text(grace);
  select count(*)::integer into waiting
    from public.policies p
   where p.status = 'active'
     and p.end_date between today - longest_grace and today + coalesce(longest_lead, 0)
     and p.end_date <= today + coalesce((lead_days ->> p.product_line::text)::integer, 0)
     and p.end_date + private.grace_days(grace, p.product_line, p.payment_frequency) >= today
     and not exists (select 1 from public.renewal_cases c where c.policy_id = p.id)
     and not exists (select 1 from public.policies s where s.renewed_from_policy_id = p.id);
  select count(*)::integer into stranded
    from public.profiles a
    join public.renewal_cases c on c.assignee_id = a.id
   where not (a.active and a.role = 'agent')
     and not private.case_stage_is_final(c.stage);
  return waiting + stranded;
end;
$$;
