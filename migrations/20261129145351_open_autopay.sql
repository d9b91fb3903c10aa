-- Opening autopay for a case, and recording what Razorpay answers.
--   open_autopay                 the desk asks for autopay on a case: only installment policies
--                                (monthly, quarterly, half-yearly) whose open installments owe one
--                                amount, within the mandate limit, first debit far enough ahead.
--                                The plan of that shape is reused (a create call is journalled only
--                                while Razorpay has none), the mandate stored `creating` with its
--                                journalled subscription call, before Razorpay is called. A live
--                                mandate of the case is answered instead of a second one.
--   record_plan_created          Razorpay's plan for ours (the create call's answer).
--   record_subscription_created  Razorpay's subscription for our mandate: the create call's answer,
--                                or what a pause / cancel call answered, or a poll.
--   record_autopay_state         (internal) the one place a mandate's state follows Razorpay:
--                                final states stay final, an older report never overrides a newer
--                                one, a late `authenticated` never undoes `active`.
--   record_razorpay_call_failed  now also fails a mandate whose plan or subscription create call
--                                failed for good, and notes failed pause / cancel calls.
-- Locks: the case (private.lock_case), then the plan, then the mandate; the webhooks lock the
-- payment row, then the case, then the mandate (record_autopay_state comes last).

create function private.open_autopay(case_id uuid)
returns table (
  autopay_mandate_id uuid, status text, reused boolean,
  autopay_plan_id uuid, razorpay_plan_id text, plan_call_id uuid, plan_request jsonb,
  razorpay_subscription_id text, short_url text, subscription_call_id uuid, subscription_request jsonb,
  installment_amount bigint, period text, "interval" integer, total_count integer,
  start_at timestamptz, expire_by timestamptz, max_amount bigint,
  customer_name text, customer_email text, customer_phone text, case_number text, policy_number text
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  stage public.case_stage;
  frequency public.payment_frequency;
  owed_amounts bigint[];
  open_count integer;
  first_due date;
  amount bigint;
  every integer;
  first_debit timestamptz;
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  mandate_limit bigint := coalesce((private.setting('AUTOPAY_MANDATE_LIMIT_PAISE') #>> '{}')::bigint, 10000000);
  min_lead interval := private.setting_interval('AUTOPAY_MIN_LEAD', interval '48 hours');
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
  plan public.autopay_plans;
  mandate public.autopay_mandates;
  was_reused boolean := false;
  plan_call uuid;
  plan_body jsonb;
  subscription_call uuid;
  subscription_body jsonb;
begin
  if open_autopay.case_id is null then
    raise exception 'autopay needs a case' using errcode = '22023';
  end if;
  if not private.payment_caller_sees_case(open_autopay.case_id) then
    raise exception 'no such case, or not yours to see' using errcode = 'P0002';
  end if;
  stage := private.lock_case(open_autopay.case_id);

  select array_agg(o.amount - o.amount_paid order by o.due_date, o.installment_number),
         count(*)::integer, min(o.due_date)
    into owed_amounts, open_count, first_due
    from public.outstanding_amounts o
   where o.case_id = open_autopay.case_id
     and o.status in ('pending', 'overdue') and o.amount_paid < o.amount;

  if stage = 'renewed' or open_count = 0 then
    raise exception 'case % owes nothing', open_autopay.case_id using errcode = 'PY010';
  end if;
  if private.case_stage_is_final(stage) then
    raise exception 'the case is closed (%): it takes no payment', stage using errcode = 'PY006';
  end if;

  -- A live mandate of the case is the answer (one subscription per case).
  select m.* into mandate from public.autopay_mandates m
   where m.case_id = open_autopay.case_id
     and m.status not in ('cancelled', 'completed', 'expired', 'failed');
  if found then
    was_reused := true;
    select ap.* into plan from public.autopay_plans ap where ap.id = mandate.autopay_plan_id;
  else
    select p.payment_frequency into frequency
      from public.renewal_cases c join public.policies p on p.id = c.policy_id
     where c.id = open_autopay.case_id;
    every := case frequency when 'monthly' then 1 when 'quarterly' then 3 when 'half_yearly' then 6 end;
    if every is null then
      raise exception 'autopay is for monthly, quarterly or half-yearly installments; this policy is paid %',
        frequency using errcode = '22023';
    end if;
    if (select count(distinct x) from unnest(owed_amounts) x) > 1 then
      raise exception 'autopay debits one amount each time, but the open installments owe %: pay by link',
        array_to_string(array(select private.format_inr(x) from unnest(owed_amounts) x), ', ')
        using errcode = '22023';
    end if;
    amount := owed_amounts[1];
    if amount > mandate_limit then
      raise exception 'an installment of % is above the autopay mandate limit of % (AUTOPAY_MANDATE_LIMIT_PAISE): pay by link',
        private.format_inr(amount), private.format_inr(mandate_limit) using errcode = '22023';
    end if;
    if amount < 100 then
      raise exception 'Razorpay takes at least 100 paise; % paise is due', amount using errcode = '22023';
    end if;
    -- The first debit on the next due date at 10:00 IST, far enough ahead for the customer to
    -- authorise the mandate and for the 24-hour pre-debit notice.
    first_debit := (first_due + time '10:00') at time zone tz;
    if first_debit < now() + min_lead then
      raise exception 'the next installment is due % (10:00 IST), sooner than AUTOPAY_MIN_LEAD (%) allows for a first debit: pay it by link',
        first_due, min_lead using errcode = '22023';
    end if;

    -- The plan of this shape, reused; created at Razorpay once (a second create call is
    -- journalled only while none has answered: a duplicate plan there is harmless and unused).
    insert into public.autopay_plans as ap (period, "interval", amount)
    values ('monthly', every, amount)
    on conflict (period, "interval", amount, currency) do nothing;
    select ap.* into plan from public.autopay_plans ap
     where ap.period = 'monthly' and ap."interval" = every and ap.amount = open_autopay.amount
       and ap.currency = 'INR'
       for update;

    insert into public.autopay_mandates as m (case_id, autopay_plan_id, razorpay_plan_id,
                                              installment_amount, period, "interval", total_count,
                                              start_at, expire_by, max_amount, created_by,
                                              reconcile_after)
    values (open_autopay.case_id, plan.id, plan.razorpay_plan_id, amount, plan.period, plan."interval",
            open_count, first_debit, first_debit - interval '36 hours', mandate_limit, auth.uid(),
            now() + reconcile)
    returning m.* into mandate;

    if plan.razorpay_plan_id is null then
      plan_body := jsonb_build_object(
        'period', plan.period, 'interval', plan."interval",
        'item', jsonb_build_object('name', format('Py360 installment %s every %s month(s)',
                                                  private.format_inr(plan.amount), plan."interval"),
                                   'amount', plan.amount, 'currency', plan.currency),
        'notes', jsonb_build_object('autopay_plan_id', plan.id));
      plan_call := private.start_razorpay_call('create_plan', plan.id, plan_body);
    end if;
    -- plan_id is known once the plan is (record_plan_created); the API adds it to the body.
    subscription_body := jsonb_strip_nulls(jsonb_build_object(
      'plan_id', plan.razorpay_plan_id, 'total_count', mandate.total_count, 'quantity', 1,
      'start_at', extract(epoch from mandate.start_at)::bigint,
      'expire_by', extract(epoch from mandate.expire_by)::bigint,
      'customer_notify', 0,
      'notes', jsonb_build_object('case_id', mandate.case_id, 'autopay_id', mandate.id)));
    subscription_call := private.start_razorpay_call('create_subscription', mandate.id, subscription_body);
  end if;

  return query
  select mandate.id, mandate.status, was_reused, plan.id, coalesce(mandate.razorpay_plan_id, plan.razorpay_plan_id),
         plan_call, plan_body, mandate.razorpay_subscription_id, mandate.short_url, subscription_call,
         subscription_body, mandate.installment_amount, mandate.period, mandate."interval",
         mandate.total_count, mandate.start_at, mandate.expire_by, mandate.max_amount,
         cu.full_name, cu.email::text, cu.phone, c.case_number, p.policy_number
    from public.renewal_cases c
    join public.customers cu on cu.id = c.customer_id
    join public.policies p on p.id = c.policy_id
   where c.id = mandate.case_id;
end;
$$;

comment on function private.open_autopay(uuid) is
  'Opens autopay (a Razorpay subscription) for a case''s open installments, or answers its live '
  'mandate (reused = true, no call journalled). Only monthly (plan monthly x1), quarterly (x3) '
  'and half-yearly (x6) policies whose open installments all still owe one amount, at most '
  'AUTOPAY_MANDATE_LIMIT_PAISE, the first due date at 10:00 IST at least AUTOPAY_MIN_LEAD ahead '
  '(start_at; expire_by 36 hours before it; total_count the open installments). The plan of that '
  'shape is reused: plan_call_id / plan_request only while Razorpay has no plan for it '
  '(then record_plan_created, and add its id as plan_id to subscription_request). '
  'subscription_call_id / subscription_request: the journalled create call (then '
  'record_subscription_created, or record_razorpay_call_failed). Errors: P0002 case not visible; '
  'PY010 nothing due (or renewed); PY006 case closed; 22023 annual policy, unequal installments, '
  'above the mandate limit, first debit too soon, below 100 paise. Security definer: checks the '
  'caller sees the case, then writes what the desk may not.';

create function private.record_plan_created(autopay_plan_id uuid, call_id uuid, plan jsonb)
returns public.autopay_plans
language plpgsql
security definer
set search_path = ''
as $$
declare
  ours public.autopay_plans;
  theirs text := plan ->> 'id';
begin
  if autopay_plan_id is null or plan is null or jsonb_typeof(plan) <> 'object'
     or coalesce(theirs, '') !~ '^plan_[A-Za-z0-9_]+$' then
    raise exception 'record_plan_created needs our plan and Razorpay''s (id plan_...)' using errcode = '22023';
  end if;
  select ap.* into ours from public.autopay_plans ap where ap.id = autopay_plan_id for update;
  if not found then
    raise exception 'no autopay plan %', autopay_plan_id using errcode = 'P0002';
  end if;
  if (plan #>> '{item,amount}') is distinct from ours.amount::text
     or coalesce(plan ->> 'period', ours.period) <> ours.period
     or coalesce(plan ->> 'interval', ours."interval"::text) <> ours."interval"::text then
    raise exception 'Razorpay''s plan % (% paise every % %) is not ours (% paise every % %)',
      theirs, plan #>> '{item,amount}', plan ->> 'interval', plan ->> 'period',
      ours.amount, ours."interval", ours.period using errcode = '22023';
  end if;

  -- The first plan Razorpay made for it stays ours; a duplicate from a concurrent call is unused.
  if ours.razorpay_plan_id is null then
    update public.autopay_plans ap
       set razorpay_plan_id = theirs, status = 'created', last_error = null
     where ap.id = ours.id
    returning ap.* into ours;
  end if;
  update public.autopay_mandates m
     set razorpay_plan_id = ours.razorpay_plan_id
   where m.autopay_plan_id = ours.id and m.status = 'creating' and m.razorpay_plan_id is null;

  if call_id is not null then
    perform private.finish_razorpay_call(call_id, ours.id);
  end if;
  return ours;
end;
$$;

comment on function private.record_plan_created(uuid, uuid, jsonb) is
  'Records Razorpay''s plan (plan_...) for ours: the create call''s answer (call_id marked '
  'succeeded). Amount, period and interval must be ours (22023); P0002 for an unknown plan. The '
  'first plan recorded stays (a concurrent duplicate at Razorpay is left unused); mandates being '
  'created on it learn its id. Returns the plan: its razorpay_plan_id is the plan_id of the '
  'subscription create call. Idempotent.';

-- The one place a mandate's state follows Razorpay (answers, polls, webhooks).
create function private.record_autopay_state(
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
         status_changed_at = case when newer and reported_at is not null then reported_at else m.status_changed_at end,
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

comment on function private.record_autopay_state(uuid, jsonb, text, timestamptz, boolean) is
  'Moves a mandate to the state Razorpay reports (subscription: its entity; reported_status: the '
  'state; reported_at: when Razorpay said it, null when unknown). Final states (cancelled, '
  'completed, expired, failed) stay; a report older than the last one applied changes nothing; '
  'created and authenticated never undo a later state. Keeps the subscription id, short_url, '
  'charge_at and paid_count; resumed after a pause clears the pause; fall_back (a failed debit: '
  'pending or halted) marks the oldest open installment for a payment-link fallback once. Next '
  'lookup: after the next debit, at least daily; none once final. Internal: called by the '
  'autopay functions and the webhook.';

create function private.record_subscription_created(autopay_mandate_id uuid, call_id uuid, subscription jsonb)
returns public.autopay_mandates
language plpgsql
security definer
set search_path = ''
as $$
declare
  ours public.autopay_mandates;
  theirs text := subscription ->> 'id';
  reported_at timestamptz;
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

  -- An answer (call_id) is Razorpay's state now; a poll the same.
  reported_at := now();
  ours := private.record_autopay_state(ours.id, subscription, subscription ->> 'status', reported_at);
  if call_id is not null then
    perform private.finish_razorpay_call(call_id, ours.id);
  end if;
  return ours;
end;
$$;

comment on function private.record_subscription_created(uuid, uuid, jsonb) is
  'Records Razorpay''s subscription (sub_...) for our mandate: the create call''s answer (call_id '
  'marked succeeded), the answer of a pause or cancel call (call_id likewise), or what the '
  'reconciliation fetched or found by notes.autopay_id (call_id null). The subscription must be '
  'this mandate''s (id, notes.autopay_id, plan_id; else 22023); P0002 for an unknown mandate. '
  'Its state goes through record_autopay_state (creating -> created, then as Razorpay says, '
  'final states final). Returns the mandate: short_url is where the customer authorises it.';

create or replace function private.record_razorpay_call_failed(call_id uuid, http_status integer, error jsonb, final boolean)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  journalled private.razorpay_calls;
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
  words text;
  code text;
begin
  if call_id is null or final is null then
    raise exception 'record_razorpay_call_failed needs the call and whether the failure is final'
      using errcode = '22023';
  end if;
  select * into journalled from private.razorpay_calls rc where rc.id = call_id;
  if not found then
    raise exception 'no Razorpay call %', call_id using errcode = 'P0002';
  end if;
  -- Razorpay's error envelope {error: {code, description}}, or the error object itself.
  code := coalesce(error #>> '{error,code}', error ->> 'code');
  words := left(coalesce(error #>> '{error,description}', error ->> 'description',
                         error ->> 'message', format('HTTP %s', http_status)), 500);

  -- The subject first (the lock order of the payment flow), then the journal.
  if journalled.operation = 'create_order' then
    update public.payment_orders po
       set status = case when final then 'failed' else po.status end,
           last_error = words,
           reconcile_after = case when final then null else now() + reconcile end
     where po.id = journalled.subject_id and po.status = 'creating';
  elsif journalled.operation = 'create_payment_link' then
    update public.payment_links pl
       set status = case when final then 'failed' else pl.status end,
           last_error = words,
           reconcile_after = case when final then null else now() + reconcile end
     where pl.id = journalled.subject_id and pl.status = 'creating';
  elsif journalled.operation = 'create_refund' then
    update public.refunds r
       set status = case when final then 'failed' else r.status end,
           failure_reason = words,
           reconcile_after = case when final then null else now() + reconcile end
     where r.id = journalled.subject_id and r.status = 'creating';
  elsif journalled.operation = 'create_plan' then
    -- No plan, no subscription: the mandates waiting for this plan fail with it.
    update public.autopay_plans ap set last_error = words
     where ap.id = journalled.subject_id and ap.status = 'creating';
    if final then
      update public.autopay_mandates m
         set status = 'failed', last_error = words, reconcile_after = null
       where m.autopay_plan_id = journalled.subject_id and m.status = 'creating'
         and m.razorpay_plan_id is null;
    end if;
  elsif journalled.operation = 'create_subscription' then
    update public.autopay_mandates m
       set status = case when final then 'failed' else m.status end,
           last_error = words,
           reconcile_after = case when final then null else now() + reconcile end
     where m.id = journalled.subject_id and m.status = 'creating';
  elsif journalled.operation in ('pause_subscription', 'cancel_subscription', 'resume_subscription') then
    update public.autopay_mandates m set last_error = words where m.id = journalled.subject_id;
  end if;

  update private.razorpay_calls rc
     set state = 'failed', http_status = record_razorpay_call_failed.http_status, error_code = code,
         finished_at = clock_timestamp(),
         duration_ms = (extract(epoch from clock_timestamp() - rc.created_at) * 1000)::integer
   where rc.id = call_id and rc.state = 'pending';
end;
$$;

comment on function private.record_razorpay_call_failed(uuid, integer, jsonb, boolean) is
  'Records that a journalled call failed (http_status 0 for a network error or timeout; error '
  'Razorpay''s envelope or {code, description}). final: Razorpay refused it for good, so a '
  'creating order, link, refund or autopay mandate becomes failed (a failed refund releases its '
  'reservation; a failed create_plan fails the mandates waiting for that plan); not final: it '
  'stays creating and the reconciliation looks it up after RAZORPAY_RECONCILE_AFTER. A failed '
  'pause, cancel or resume of a subscription is noted on the mandate (last_error). P0002 for an '
  'unknown call. Idempotent: a finished call keeps its first outcome.';

-- A subscription's debit: the payment is tied to the mandate's case, then credited by the one
-- place money is credited.
create function private.apply_razorpay_subscription_payment(payment jsonb, subscription jsonb, via text)
returns table (payment_id uuid, outcome text, credited bigint, case_id uuid, case_stage public.case_stage)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  pay_ref text := payment ->> 'id';
  sub_ref text := subscription ->> 'id';
  noted text := subscription #>> '{notes,autopay_id}';
  mandate public.autopay_mandates;
begin
  if payment is null or jsonb_typeof(payment) <> 'object' or coalesce(pay_ref, '') !~ '^pay_[A-Za-z0-9_]+$'
     or subscription is null or jsonb_typeof(subscription) <> 'object'
     or coalesce(sub_ref, '') !~ '^sub_[A-Za-z0-9_]+$'
     or coalesce(payment ->> 'amount', '') !~ '^[0-9]{1,15}$'
     or via is null or via not in ('webhook', 'verify', 'reconcile') then
    raise exception 'apply_razorpay_subscription_payment needs a Razorpay payment entity (id pay_..., '
                    'amount in paise), its subscription entity (id sub_...) and via webhook, verify or reconcile'
      using errcode = '22023';
  end if;
  select m.* into mandate from public.autopay_mandates m
   where m.razorpay_subscription_id = sub_ref
      or (m.razorpay_subscription_id is null and noted ~ '^[0-9a-f-]{36}$' and m.id = noted::uuid)
   order by m.razorpay_subscription_id is null
   limit 1;
  if not found then
    return query select null::uuid, 'unmatched'::text, 0::bigint, null::uuid, null::public.case_stage;
    return;
  end if;

  -- The payment row first (as apply_razorpay_payment would), tied to the mandate's case while
  -- nothing is credited; apply_razorpay_payment then locks it, then the case.
  insert into public.payments as p (case_id, razorpay_order_id, razorpay_payment_id, amount, currency,
                                    status, autopay_mandate_id)
  values (mandate.case_id, nullif(payment ->> 'order_id', ''), pay_ref, (payment ->> 'amount')::bigint,
          coalesce(payment ->> 'currency', 'INR'), 'created', mandate.id)
  on conflict (razorpay_payment_id) do update
     set autopay_mandate_id = excluded.autopay_mandate_id,
         case_id = case when p.credited_at is null and p.review_reason is null
                         then excluded.case_id else p.case_id end
   where p.autopay_mandate_id is null;

  return query select a.payment_id, a.outcome, a.credited, a.case_id, a.case_stage
                 from private.apply_razorpay_payment(payment, via) a;
end;
$$;

comment on function private.apply_razorpay_subscription_payment(jsonb, jsonb, text) is
  'Applies a payment Razorpay made for a subscription (subscription.charged, or the '
  'reconciliation''s fetch of the subscription''s payments): the payment is tied to the mandate '
  '(found by subscription id, or notes.autopay_id while its create answer is missing) and its '
  'case, then apply_razorpay_payment credits it once like any other payment (oldest open '
  'installment first; a debit when nothing is owed is flagged for refund). Same outcomes; '
  'unmatched when no mandate of ours. 22023 on malformed entities.';

revoke execute on function private.open_autopay(uuid), private.record_plan_created(uuid, uuid, jsonb),
  private.record_autopay_state(uuid, jsonb, text, timestamptz, boolean),
  private.record_subscription_created(uuid, uuid, jsonb),
  private.apply_razorpay_subscription_payment(jsonb, jsonb, text) from public;
grant execute on function private.open_autopay(uuid) to authenticated;
grant execute on function private.record_plan_created(uuid, uuid, jsonb),
  private.record_subscription_created(uuid, uuid, jsonb),
  private.apply_razorpay_subscription_payment(jsonb, jsonb, text) to service_role;
