-- Two holes left from the hardening review, closed for every writer (the desk through REST, the
-- jobs, the backend):
-- * A renewal case named its customer and its policy separately, and nothing tied the two: a case
--   could name one customer while its policy belonged to another, and the customer's book keys,
--   messages and payments then followed the wrong person. The case's (policy, customer) pair now
--   references the policy's own pair; a policy's customer cannot change while a case names it.
-- * Reasons that must say something (a lost case's, a waiver's or an offline payment's, a
--   refund's) were checked with btrim(), which trims spaces only: a reason of tabs and newlines
--   passed. A reason, where one is given, now holds at least one character that is not
--   whitespace of any kind.

alter table public.policies
  add constraint policies_id_customer_id_key unique (id, customer_id);

comment on constraint policies_id_customer_id_key on public.policies is
  'Lets renewal cases reference the policy together with its customer (always unique: id is).';

alter table public.renewal_cases
  add constraint renewal_cases_policy_customer_fkey
  foreign key (policy_id, customer_id) references public.policies (id, customer_id)
  on update restrict on delete restrict;

comment on constraint renewal_cases_policy_customer_fkey on public.renewal_cases is
  'A case''s customer is its policy''s customer.';

alter table public.renewal_cases
  add constraint renewal_cases_lost_reason_says_something
  check (lost_reason is null or lost_reason ~ '[^[:space:]]');

alter table public.outstanding_amounts
  add constraint outstanding_amounts_reason_says_something
  check (reason is null or reason ~ '[^[:space:]]');

alter table public.refunds
  add constraint refunds_reason_says_something
  check (reason ~ '[^[:space:]]');
