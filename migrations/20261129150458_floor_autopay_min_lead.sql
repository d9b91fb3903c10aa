-- open_autopay: the first debit is never sooner than 37 hours, whatever AUTOPAY_MIN_LEAD says.
-- The subscription's expire_by (the customer's last moment to authorise) is 36 hours before the
-- first debit, so that the 24-hour pre-debit notice can go after the authorisation; a setting
-- below that made expire_by fall in the past, which Razorpay refuses.

create or replace function private.open_autopay(case_id uuid)
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
  each_amount bigint;
  every integer;
  first_debit timestamptz;
  tz text := coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata');
  mandate_limit bigint := coalesce((private.setting('AUTOPAY_MANDATE_LIMIT_PAISE') #>> '{}')::bigint, 10000000);
  -- Never under 37 hours, whatever the setting: expire_by is 36 hours before the first debit.
  min_lead interval := greatest(private.setting_interval('AUTOPAY_MIN_LEAD', interval '48 hours'),
                                interval '37 hours');
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
    each_amount := owed_amounts[1];
    if each_amount > mandate_limit then
      raise exception 'an installment of % is above the autopay mandate limit of % (AUTOPAY_MANDATE_LIMIT_PAISE): pay by link',
        private.format_inr(each_amount), private.format_inr(mandate_limit) using errcode = '22023';
    end if;
    if each_amount < 100 then
      raise exception 'Razorpay takes at least 100 paise; % paise is due', each_amount using errcode = '22023';
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
    values ('monthly', every, each_amount)
    on conflict (period, "interval", amount, currency) do nothing;
    select ap.* into plan from public.autopay_plans ap
     where ap.period = 'monthly' and ap."interval" = every and ap.amount = each_amount
       and ap.currency = 'INR'
       for update;

    insert into public.autopay_mandates as m (case_id, autopay_plan_id, razorpay_plan_id,
                                              installment_amount, period, "interval", total_count,
                                              start_at, expire_by, max_amount, created_by,
                                              reconcile_after)
    values (open_autopay.case_id, plan.id, plan.razorpay_plan_id, each_amount, plan.period, plan."interval",
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

