-- The journal of calls to Razorpay (private.razorpay_calls): a call is written and committed
-- before it is made, and finished with its outcome. A create call that failed for good fails its
-- order, link or refund; one that may have reached Razorpay (a timeout, a 5xx) leaves it
-- `creating` for the reconciliation to look up, because Razorpay has no idempotency key for
-- orders and links and a blind retry could create a second one.

-- Who is calling a payment function on the desk's behalf sees this case (the caller's role as set
-- for the session: a definer function's current_user is its owner). The backend sees every case.
create function private.payment_caller_sees_case(case_id uuid) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select case
           when current_setting('role') in ('none', 'postgres', 'service_role')
             then exists (select 1 from public.renewal_cases c where c.id = payment_caller_sees_case.case_id)
           else exists (select 1 from public.renewal_cases c
                         where c.id = payment_caller_sees_case.case_id
                           and c.assignee_id = any (private.visible_agent_ids()))
         end
$$;

comment on function private.payment_caller_sees_case(uuid) is
  'True when the case exists and the session''s caller may see it (the desk: cases in their '
  'book; the backend: any). Used by the payment functions the desk calls. Security definer: '
  'asked inside definer functions, with the session''s role, not the function owner''s.';

-- An interval setting, or the default when unset or malformed.
create function private.setting_interval(setting_key text, fallback interval) returns interval
language plpgsql stable
set search_path = ''
as $$
begin
  return coalesce((private.setting(setting_key) #>> '{}')::interval, fallback);
exception when invalid_datetime_format or datatype_mismatch or invalid_parameter_value then
  return fallback;
end;
$$;

comment on function private.setting_interval(text, interval) is
  'An app setting read as an interval ("30 minutes"), or the fallback when it is unset or not an '
  'interval.';

create function private.start_razorpay_call(operation text, subject_id uuid, request jsonb) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  call_id uuid;
begin
  if operation is null or subject_id is null
     or operation not in ('create_order', 'create_payment_link', 'create_refund', 'capture_payment',
                          'cancel_payment_link')
     or (request is not null and jsonb_typeof(request) <> 'object') then
    raise exception 'a Razorpay call needs a known operation, its subject and a JSON object request'
      using errcode = '22023';
  end if;
  insert into private.razorpay_calls (operation, subject_id, request)
  values (operation, subject_id,
          -- Never a secret in the journal, whatever the caller passed.
          coalesce((select jsonb_object_agg(r.key, r.value) from jsonb_each(request) r
                     where r.key !~* '(secret|password|authorization|token)'), '{}'))
  returning id into call_id;
  return call_id;
end;
$$;

comment on function private.start_razorpay_call(text, uuid, jsonb) is
  'Journals a call to Razorpay before it is made (commit it first) and returns its id: operation '
  'create_order, create_payment_link, create_refund, capture_payment or cancel_payment_link; '
  'subject_id our order, link, refund or payment; request the body sent (keys naming secrets, '
  'passwords, tokens or authorization are dropped). 22023 on bad input. Security definer: the '
  'journal is private. open_payment_order, open_payment_link and request_refund journal their '
  'own create call.';

create function private.finish_razorpay_call(call_id uuid, subject_id uuid) returns void
language sql
security definer
set search_path = ''
as $$
  update private.razorpay_calls rc
     set state = 'succeeded', http_status = 200, finished_at = clock_timestamp(),
         duration_ms = (extract(epoch from clock_timestamp() - rc.created_at) * 1000)::integer
   where rc.id = finish_razorpay_call.call_id and rc.subject_id = finish_razorpay_call.subject_id
     and rc.state = 'pending'
$$;

comment on function private.finish_razorpay_call(uuid, uuid) is
  'Marks a journalled call of that subject succeeded (once; a finished call is left as it is). '
  'Used by the functions recording Razorpay''s answers.';

create function private.record_razorpay_call_failed(call_id uuid, http_status integer, error jsonb, final boolean)
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
  'creating order, link or refund becomes failed (a failed refund releases its reservation); not '
  'final: it stays creating and the reconciliation looks it up after RAZORPAY_RECONCILE_AFTER. '
  'P0002 for an unknown call. Idempotent: a finished call keeps its first outcome.';

revoke execute on function private.payment_caller_sees_case(uuid), private.setting_interval(text, interval),
  private.start_razorpay_call(text, uuid, jsonb), private.finish_razorpay_call(uuid, uuid),
  private.record_razorpay_call_failed(uuid, integer, jsonb, boolean) from public;
grant execute on function private.start_razorpay_call(text, uuid, jsonb),
  private.record_razorpay_call_failed(uuid, integer, jsonb, boolean) to service_role;
