-- Razorpay payment links, per case or per installment, which we send the customer ourselves
-- (Razorpay's notify is off; reminder templates carry the link as {{payment_link}}). Partial
-- payment only for the product lines PARTIAL_PAYMENTS allows, with a first part of at least the
-- percentage it sets. Stored `creating` with the journalled call before Razorpay is called.

create function private.open_payment_link(
  case_id uuid,
  outstanding_amount_id uuid default null,
  accept_partial boolean default false,
  first_min_partial_amount bigint default null
)
returns table (
  payment_link_id uuid, reference_id text, amount bigint, currency text, accepts_partial boolean,
  min_partial_amount bigint, expire_by timestamptz, status text,
  razorpay_payment_link_id text, short_url text, reused boolean, customer_name text,
  customer_email text, customer_phone text, case_number text, policy_number text, call_id uuid
)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  stage public.case_stage;
  line public.product_line;
  rule jsonb;
  total bigint;
  floor_amount bigint;
  partial boolean := coalesce(open_payment_link.accept_partial, false);
  min_part bigint := open_payment_link.first_min_partial_amount;
  opened public.payment_links;
  was_reused boolean := false;
  journal uuid;
  ttl interval := least(private.setting_interval('PAYMENT_LINK_TTL', interval '15 days'), interval '180 days');
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
begin
  if open_payment_link.case_id is null then
    raise exception 'a payment link needs a case' using errcode = '22023';
  end if;
  if not private.payment_caller_sees_case(open_payment_link.case_id) then
    raise exception 'no such case, or not yours to see' using errcode = 'P0002';
  end if;
  stage := private.lock_case(open_payment_link.case_id);

  if open_payment_link.outstanding_amount_id is null then
    total := public.case_outstanding(open_payment_link.case_id);
  else
    select o.amount - o.amount_paid into total
      from public.outstanding_amounts o
     where o.id = open_payment_link.outstanding_amount_id and o.case_id = open_payment_link.case_id
       and o.status in ('pending', 'overdue') and o.amount_paid < o.amount;
    if not found and stage <> 'renewed' and not private.case_stage_is_final(stage) then
      raise exception 'installment % is not open on this case', open_payment_link.outstanding_amount_id
        using errcode = '22023';
    end if;
  end if;
  if stage = 'renewed' or coalesce(total, 0) = 0 then
    raise exception 'case % owes nothing', open_payment_link.case_id using errcode = 'PY010';
  end if;
  if private.case_stage_is_final(stage) then
    raise exception 'the case is closed (%): it takes no payment', stage using errcode = 'PY006';
  end if;
  if total < 100 then
    raise exception 'Razorpay takes at least 100 paise; % paise is due', total using errcode = '22023';
  end if;

  if not partial and min_part is not null then
    raise exception 'a minimum first part needs partial payments' using errcode = '22023';
  end if;
  if partial then
    select p.product_line into line
      from public.renewal_cases c join public.policies p on p.id = c.policy_id
     where c.id = open_payment_link.case_id;
    rule := private.setting('PARTIAL_PAYMENTS') -> line::text;
    if rule is null or jsonb_typeof(rule) <> 'object' then
      raise exception 'partial payments are not allowed for % policies', line using errcode = '22023';
    end if;
    floor_amount := greatest(100, ceil(total * coalesce((rule ->> 'min_first_percent')::numeric, 0) / 100)::bigint);
    min_part := coalesce(min_part, floor_amount);
    if min_part < floor_amount or min_part > total then
      raise exception 'the first part must be between % and % paise', floor_amount, total
        using errcode = '22023';
    end if;
  end if;

  -- The same link, still payable, is offered again rather than a second one.
  select pl.* into opened
    from public.payment_links pl
   where pl.case_id = open_payment_link.case_id
     and pl.outstanding_amount_id is not distinct from open_payment_link.outstanding_amount_id
     and pl.status = 'created' and pl.amount = total and pl.accept_partial = partial
     and pl.first_min_partial_amount is not distinct from min_part
     and pl.expire_by > now() + interval '1 day'
   order by pl.created_at desc
   limit 1
     for update;
  if found then
    was_reused := true;
  else
    insert into public.payment_links as pl (case_id, outstanding_amount_id, amount, accept_partial,
                                            first_min_partial_amount, expire_by, created_by,
                                            reconcile_after)
    values (open_payment_link.case_id, open_payment_link.outstanding_amount_id, total, partial,
            min_part, date_trunc('second', now() + ttl), auth.uid(), now() + reconcile)
    returning pl.* into opened;
    journal := private.start_razorpay_call('create_payment_link', opened.id, jsonb_strip_nulls(jsonb_build_object(
      'amount', opened.amount, 'currency', opened.currency, 'accept_partial', opened.accept_partial,
      'first_min_partial_amount', opened.first_min_partial_amount,
      'expire_by', extract(epoch from opened.expire_by)::bigint,
      'reference_id', opened.reference_id,
      'notify', jsonb_build_object('sms', false, 'email', false), 'reminder_enable', false,
      'notes', jsonb_build_object('payment_link_id', opened.id, 'case_id', opened.case_id))));
  end if;

  return query
  select opened.id, opened.reference_id, opened.amount, opened.currency, opened.accept_partial,
         opened.first_min_partial_amount, opened.expire_by, opened.status,
         opened.razorpay_payment_link_id, opened.short_url, was_reused, cu.full_name,
         cu.email::text, cu.phone, c.case_number, p.policy_number, journal
    from public.renewal_cases c
    join public.customers cu on cu.id = c.customer_id
    join public.policies p on p.id = c.policy_id
   where c.id = opened.case_id;
end;
$$;

comment on function private.open_payment_link(uuid, uuid, boolean, bigint) is
  'Opens (or reuses) a Razorpay payment link for one open installment or all a case owes, '
  'amount from the database. accept_partial only where PARTIAL_PAYMENTS allows the product line, '
  'first part at least its min_first_percent (default that minimum). expire_by PAYMENT_LINK_TTL '
  'ahead (at most 180 days). Returns the link (call_id: the journalled create call, null when a '
  'still-payable identical link is reused; accepts_partial and min_partial_amount are the '
  'link''s accept_partial and first_min_partial_amount), the customer''s prefill and case and '
  'policy numbers. '
  'Errors: P0002 case not visible; PY010 nothing due; PY006 case closed; 22023 installment not '
  'open on the case, partial payment not allowed or minimum out of range. Security definer: checks '
  'the caller sees the case.';

create function private.record_payment_link_created(link_id uuid, call_id uuid, link jsonb)
returns public.payment_links
language plpgsql
security definer
set search_path = ''
as $$
declare
  ours public.payment_links;
  theirs text := link ->> 'id';
  reported text := link ->> 'status';
  reconcile interval := private.setting_interval('RAZORPAY_RECONCILE_AFTER', interval '10 minutes');
  next_status text;
begin
  if link_id is null or link is null or theirs !~ '^plink_[A-Za-z0-9_]+$' then
    raise exception 'record_payment_link_created needs our link and Razorpay''s (id plink_...)'
      using errcode = '22023';
  end if;
  select * into ours from public.payment_links pl where pl.id = link_id for update;
  if not found then
    raise exception 'no payment link %', link_id using errcode = 'P0002';
  end if;
  if link ->> 'reference_id' is distinct from ours.reference_id
     or (link ->> 'amount')::bigint is distinct from ours.amount then
    raise exception 'Razorpay''s link % (reference %, % paise) is not ours (reference %, % paise)',
      theirs, link ->> 'reference_id', link ->> 'amount', ours.reference_id, ours.amount
      using errcode = '22023';
  end if;
  if ours.razorpay_payment_link_id is not null and ours.razorpay_payment_link_id <> theirs then
    raise exception 'link % already is Razorpay''s %, not %', ours.id, ours.razorpay_payment_link_id, theirs
      using errcode = '22023';
  end if;

  -- Forward only; paid and partially_paid follow credited payments (apply_razorpay_payment).
  next_status := case
    when ours.status in ('creating', 'failed') then 'created'
    else ours.status
  end;
  if next_status in ('created', 'partially_paid') and reported in ('expired', 'cancelled') then
    next_status := reported;
  end if;

  update public.payment_links pl
     set razorpay_payment_link_id = theirs,
         short_url = coalesce(link ->> 'short_url', pl.short_url),
         razorpay_order_id = coalesce(pl.razorpay_order_id, nullif(link ->> 'order_id', '')),
         status = next_status,
         last_error = case when ours.status in ('creating', 'failed') then null else pl.last_error end,
         reconcile_after = case
           when next_status in ('paid', 'expired', 'cancelled') then null
           when ours.status in ('creating', 'failed') then now() + reconcile
           else pl.reconcile_after end
   where pl.id = ours.id
  returning pl.* into ours;

  if call_id is not null then
    perform private.finish_razorpay_call(call_id, ours.id);
  end if;
  return ours;
end;
$$;

comment on function private.record_payment_link_created(uuid, uuid, jsonb) is
  'Records Razorpay''s payment link for ours: the create call''s answer (call_id marked '
  'succeeded), or what the reconciliation found by reference_id or polled (call_id null), or a '
  'payment_link.expired / cancelled webhook. Reference and amount must be ours (22023); P0002 '
  'for an unknown link. creating or failed -> created; expired and cancelled as Razorpay says '
  'while unpaid. paid and partially_paid follow credited payments only. Idempotent.';

revoke execute on function private.open_payment_link(uuid, uuid, boolean, bigint),
  private.record_payment_link_created(uuid, uuid, jsonb) from public;
grant execute on function private.open_payment_link(uuid, uuid, boolean, bigint) to authenticated;
grant execute on function private.record_payment_link_created(uuid, uuid, jsonb) to service_role;
