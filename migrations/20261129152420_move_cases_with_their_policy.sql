-- A policy corrected to another customer takes its cases along (ON UPDATE CASCADE): the case's
-- customer is its policy's customer, so a correction of the one is a correction of the other,
-- and refusing it (as 20261129144611 did) left data fixes needing two statements that could not
-- both pass. Only service_role and the superuser may change a policy's customer (column grants).

alter table public.renewal_cases drop constraint renewal_cases_policy_customer_fkey;
alter table public.renewal_cases
  add constraint renewal_cases_policy_customer_fkey
  foreign key (policy_id, customer_id) references public.policies (id, customer_id)
  on update cascade on delete restrict;

comment on constraint renewal_cases_policy_customer_fkey on public.renewal_cases is
  'A case''s customer is its policy''s customer; a policy moved to another customer moves its '
  'cases along.';
