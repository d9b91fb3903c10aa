-- Fixes the daily expiry of 20261130192757, found in review:
--
-- * The terms it finds are updated by key; the update did not say again why a term expires. A
--   term re-dated or cancelled by a transaction that committed while the update waited for its
--   row was expired all the same (Postgres re-checks only the update's own conditions against the
--   newer row). The update now states the whole rule, which the newer row must still meet.
-- * A term without a case expired once its line's grace was over counted back from today; with
--   a negative GRACE_DAYS (nothing bounds the setting) that was before its end date. Every branch
--   now requires the end date to have passed, as before 20261130192757.

create or replace function private.expire_ended_terms(as_of timestamptz default now()) returns integer
language plpgsql
set search_path = ''
set jit = off
as $$
declare
  today date := private.business_date(as_of);
  grace jsonb := private.setting('GRACE_DAYS');
  expired integer;
  ending uuid[];
begin
  ending := array(
     -- Past its grace with no case: per line and frequency, the active terms that ended before
     -- that pair's grace began (`offset 0` keeps each a range of the index).
     select q.id
       from unnest(enum_range(null::public.product_line)) as l (line)
      cross join unnest(enum_range(null::public.payment_frequency)) as f (frequency)
      cross join lateral (
        select q.id from public.policies q
         where q.status = 'active' and q.product_line = l.line and q.payment_frequency = f.frequency
           and q.end_date < least(today, today - private.grace_days(grace, l.line, f.frequency))
           and not exists (select 1 from public.renewal_cases c where c.policy_id = q.id)
        offset 0
      ) q
     union
     -- Ended, and its case lost or not taken.
     select c.policy_id
       from public.renewal_cases c
       join public.policies q on q.id = c.policy_id
      where c.stage in ('lost', 'not_taken')
        and q.status = 'active' and q.end_date < today
  );
  -- Each found term by its key (as a semi-join, planned for the 300,000 rows the ranges are
  -- guessed to hold, every term of the book was read whenever one expired), and only if it still
  -- qualifies: a row another transaction changed meanwhile is judged again as it now is.
  update public.policies p
     set status = 'expired'
    from unnest(ending) as e (id)
   where p.id = e.id
     and p.status = 'active'
     and p.end_date < today
     and (
       exists (select 1 from public.renewal_cases c
                where c.policy_id = p.id and c.stage in ('lost', 'not_taken'))
       or (p.end_date + private.grace_days(grace, p.product_line, p.payment_frequency) < today
           and not exists (select 1 from public.renewal_cases c where c.policy_id = p.id))
     );
  get diagnostics expired = row_count;
  return expired;
end;
$$;
comment on function private.expire_ended_terms(timestamptz) is
  'Daily: active terms past their end date whose case was lost or not taken, and terms past their '
  'grace that never had a case, become expired. Idempotent.';
