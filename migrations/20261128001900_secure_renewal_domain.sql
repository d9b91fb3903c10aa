-- Row-level security for the renewal domain. A row belongs to an agent; admins see every book,
-- managers the books of the people in their subtree, agents their own; analysts and anon none.
--   renewal_cases        by assignee
--   policies             by agent, or through a visible case (a colleague covering for them)
--   customers            through a visible policy
--   consents             through a visible customer
--   outstanding_amounts, payments   through a visible case
-- Policy data and new cases come from imports and jobs (service role); the desk works cases,
-- installments, consents and contact details. Nobody deletes renewal history.

alter table public.customers enable row level security;
alter table public.consents enable row level security;
alter table public.policies enable row level security;
alter table public.renewal_cases enable row level security;
alter table public.outstanding_amounts enable row level security;
alter table public.payments enable row level security;
alter table public.payment_events enable row level security;
alter table public.vendors enable row level security;
alter table public.channels enable row level security;
alter table public.audit_log enable row level security;

revoke all on public.customers, public.consents, public.policies, public.renewal_cases,
  public.outstanding_amounts, public.payments, public.payment_events, public.vendors,
  public.channels, public.audit_log from anon;
-- Audit rows and raw webhooks are written by triggers and the backend only.
revoke insert, update, delete, truncate on public.audit_log, public.payment_events from authenticated;

-- renewal_cases
create policy renewal_cases_select_member on public.renewal_cases
  for select to authenticated
  using (assignee_id = any ((select private.visible_agent_ids())::uuid[]));

create policy renewal_cases_insert_admin on public.renewal_cases
  for insert to authenticated
  with check ((select private.is_admin()));

-- Work a visible case; hand it only to someone whose book the caller also sees.
create policy renewal_cases_update_member on public.renewal_cases
  for update to authenticated
  using (assignee_id = any ((select private.visible_agent_ids())::uuid[]))
  with check (assignee_id = any ((select private.visible_agent_ids())::uuid[]));

-- policies
create policy policies_select_member on public.policies
  for select to authenticated
  using (
    agent_id = any ((select private.visible_agent_ids())::uuid[])
    or exists (select 1 from public.renewal_cases c where c.policy_id = policies.id)
  );

create policy policies_insert_admin on public.policies
  for insert to authenticated
  with check ((select private.is_admin()));

create policy policies_update_admin on public.policies
  for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

create policy policies_delete_admin on public.policies
  for delete to authenticated
  using ((select private.is_admin()));

-- customers
create policy customers_select_member on public.customers
  for select to authenticated
  using (exists (select 1 from public.policies p where p.customer_id = customers.id));

create policy customers_insert_admin on public.customers
  for insert to authenticated
  with check ((select private.is_admin()));

create policy customers_update_member on public.customers
  for update to authenticated
  using (exists (select 1 from public.policies p where p.customer_id = customers.id))
  with check (exists (select 1 from public.policies p where p.customer_id = customers.id));

create policy customers_delete_admin on public.customers
  for delete to authenticated
  using ((select private.is_admin()));

-- consents
create policy consents_select_member on public.consents
  for select to authenticated
  using (exists (select 1 from public.customers c where c.id = consents.customer_id));

create policy consents_insert_member on public.consents
  for insert to authenticated
  with check (exists (select 1 from public.customers c where c.id = consents.customer_id));

create policy consents_update_member on public.consents
  for update to authenticated
  using (exists (select 1 from public.customers c where c.id = consents.customer_id))
  with check (exists (select 1 from public.customers c where c.id = consents.customer_id));

-- outstanding_amounts
create policy outstanding_amounts_select_member on public.outstanding_amounts
  for select to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = outstanding_amounts.case_id));

create policy outstanding_amounts_insert_admin on public.outstanding_amounts
  for insert to authenticated
  with check ((select private.is_admin()));

create policy outstanding_amounts_update_member on public.outstanding_amounts
  for update to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = outstanding_amounts.case_id))
  with check (exists (select 1 from public.renewal_cases c where c.id = outstanding_amounts.case_id));

-- payments: read on the desk, written by the backend (service role) only.
create policy payments_select_member on public.payments
  for select to authenticated
  using (exists (select 1 from public.renewal_cases c where c.id = payments.case_id));

-- payment_events: no policy; only the backend reads raw webhooks.

-- vendors and channels: the desk reads them, admins configure them.
create policy vendors_select_member on public.vendors
  for select to authenticated
  using ((select private.is_desk_member()));

create policy vendors_insert_admin on public.vendors
  for insert to authenticated
  with check ((select private.is_admin()));

create policy vendors_update_admin on public.vendors
  for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

create policy vendors_delete_admin on public.vendors
  for delete to authenticated
  using ((select private.is_admin()));

create policy channels_select_member on public.channels
  for select to authenticated
  using ((select private.is_desk_member()));

create policy channels_insert_admin on public.channels
  for insert to authenticated
  with check ((select private.is_admin()));

create policy channels_update_admin on public.channels
  for update to authenticated
  using ((select private.is_admin()))
  with check ((select private.is_admin()));

create policy channels_delete_admin on public.channels
  for delete to authenticated
  using ((select private.is_admin()));

-- audit_log: admins read it.
create policy audit_log_select_admin on public.audit_log
  for select to authenticated
  using ((select private.is_admin()));
