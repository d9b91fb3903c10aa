-- Fixes found by the autopay pgTAP (forward-only: the function as first committed is replaced).
-- * record_subscription_created stamped the mandate's state with the time of our answer, so a
--   webhook Razorpay stamped in the same second (whole seconds) looked older and was dropped,
--   leaving a mandate `created` after subscription.authenticated. Answers and polls now carry no
--   event time; webhooks are ordered among themselves by Razorpay's created_at.
-- * record_autopay_state stamped that time even for an event whose state it refused (a late
--   subscription.authenticated after active), so a genuine older-than-it event was then dropped.

create or replace function private.record_subscription_created(autopay_mandate_id uuid, call_id uuid, subscription jsonb)
returns public.autopay_mandates
language plpgsql
security definer
set search_path = ''
as $$
declare
  ours public.autopay_mandates;
  theirs text := subscription ->> 'id';
begin
  if autopay_mandate_id is null or subscription is null or jsonb_typeof(subscription) <> 'object'
     or coalesce(theirs, '') !~ '^sub_[A-Za-z0-9_]+$' then
    raise exception 'record_subscription_created needs our mandate and Razorpay''s subscription (id sub_...)'
      using errcode = '22023';
  end if;
  select m.* into ours from public.autopay_mandates m where m.id = autopay_mandate_id;
  if not found then
    raise exception 'no autopay mandate %', autopay_mandate_id using errcode = 'P0002';
  end if;
  if (ours.razorpay_subscription_id is not null and ours.razorpay_subscription_id <> theirs)
     or (subscription #>> '{notes,autopay_id}') is distinct from null
        and (subscription #>> '{notes,autopay_id}') <> ours.id::text
     or (ours.razorpay_plan_id is not null and subscription ? 'plan_id'
         and subscription ->> 'plan_id' <> ours.razorpay_plan_id) then
    raise exception 'Razorpay''s subscription % (plan %, notes %) is not mandate % (%, plan %)',
      theirs, subscription ->> 'plan_id', subscription -> 'notes', ours.id,
      coalesce(ours.razorpay_subscription_id, 'not yet created'), ours.razorpay_plan_id
      using errcode = '22023';
  end if;
  if exists (select 1 from public.autopay_mandates m
              where m.razorpay_subscription_id = theirs and m.id <> ours.id) then
    raise exception 'subscription % belongs to another mandate', theirs using errcode = '22023';
  end if;

  -- An answer or a poll carries no event time: it is applied (by the rank of states), but sets
  -- no time a later webhook is compared with: Razorpay stamps events in whole seconds, and one
  -- made in the same second as our answer would look older than it.
  ours := private.record_autopay_state(ours.id, subscription, subscription ->> 'status', null);
  if call_id is not null then
    perform private.finish_razorpay_call(call_id, ours.id);
  end if;
  return ours;
end;
$$;


create or replace function private.record_autopay_state(
  autopay_mandate_id uuid,
  subscription jsonb,
  reported_status text,
  reported_at timestamptz,
  fall_back boolean default false
)
returns public.autopay_mandates
language plpgsql
security definer
set search_path = ''
as $$
declare
  ours public.autopay_mandates;
  next_status text;
  newer boolean;
  reported_charge timestamptz;
  due uuid;
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
begin
  select m.* into ours from public.autopay_mandates m where m.id = autopay_mandate_id for update;
  if not found then
    raise exception 'no autopay mandate %', autopay_mandate_id using errcode = 'P0002';
  end if;
  if coalesce(subscription ->> 'charge_at', '') ~ '^[0-9]{1,12}$' then
    reported_charge := to_timestamp((subscription ->> 'charge_at')::bigint);
  end if;
  newer := reported_at is null or ours.status_changed_at is null or reported_at >= ours.status_changed_at;

  next_status := case
    when ours.status in ('cancelled', 'completed', 'expired', 'failed') then ours.status
    when reported_status is null
         or reported_status not in ('created', 'authenticated', 'active', 'pending', 'halted',
                                    'paused', 'cancelled', 'completed', 'expired') then ours.status
    when not newer then ours.status
    when reported_status = 'created' and ours.status <> 'creating' then ours.status
    when reported_status = 'authenticated' and ours.status not in ('creating', 'created') then ours.status
    else reported_status
  end;

  update public.autopay_mandates m
     set status = next_status,
         razorpay_subscription_id = coalesce(m.razorpay_subscription_id, subscription ->> 'id'),
         razorpay_plan_id = coalesce(m.razorpay_plan_id, subscription ->> 'plan_id'),
         short_url = coalesce(nullif(subscription ->> 'short_url', ''), m.short_url),
         charge_at = case when newer and subscription ? 'charge_at' then reported_charge else m.charge_at end,
         paid_count = greatest(m.paid_count, coalesce((subscription ->> 'paid_count')::integer, 0)),
         -- Stamped only by a webhook whose state was taken (a late authenticated is not).
         status_changed_at = case when newer and reported_at is not null and next_status = reported_status
                                  then reported_at else m.status_changed_at end,
         -- A new state asks for new actions (e.g. a confirmed pause lets the link fallback go).
         action_after = case when next_status <> ours.status then null else m.action_after end,
         last_error = case when ours.status = 'creating' and next_status <> 'creating' then null else m.last_error end,
         -- Resumed after our pause (by the desk at Razorpay): the pause is over.
         pause_reason = case when next_status = 'active' and ours.status = 'paused' then null else m.pause_reason end,
         pause_requested_at = case when next_status = 'active' and ours.status = 'paused' then null else m.pause_requested_at end,
         pause_installment_id = case when next_status = 'active' and ours.status = 'paused' then null else m.pause_installment_id end,
         reconcile_after = case
           when next_status in ('cancelled', 'completed', 'expired', 'failed') then null
           when next_status = 'creating' then m.reconcile_after
           -- Looked up after the next debit is due (a lost webhook), at least daily.
           else least(greatest(coalesce(case when newer and subscription ? 'charge_at' then reported_charge end,
                                        m.charge_at, m.start_at), now()) + reconcile,
                      now() + interval '1 day') end
   where m.id = ours.id
  returning m.* into ours;

  -- A failed debit (pending: Razorpay retries; halted: it stopped): the installment due falls
  -- back to a payment link, once per installment.
  if fall_back and ours.status in ('pending', 'halted') then
    select o.id into due from public.outstanding_amounts o
     where o.case_id = ours.case_id and o.status in ('pending', 'overdue') and o.amount_paid < o.amount
     order by o.due_date, o.installment_number limit 1;
    if due is not null and ours.fallback_installment_id is distinct from due then
      update public.autopay_mandates m
         set fallback_installment_id = due, fallback_requested_at = now(), fallback_link_id = null,
             fallback_reminded_at = null, action_after = null
       where m.id = ours.id
      returning m.* into ours;
    end if;
  end if;
  return ours;
end;
$$;

