-- The erasure no longer deletes storage.objects rows itself: Storage removes an object's row
-- when the object is deleted through it (the sweep of private.object_deletions, S3 DeleteObject),
-- and it finds the object by that row. Deleting the row first from SQL leaves the bytes behind
-- (the delete then answers "no such key", which the sweep takes as done), and Supabase's
-- storage.protect_delete trigger refuses such a delete outright, which would have failed the
-- whole erasure there. The row holds no personal data meanwhile: keys are
-- `{…}/{document_id}/{kind}.{ext}` by construction (20261130051030_key_documents_without_file_names)
-- and the uploaded file name is taken out of its user metadata when it is recorded.
-- private.erase_customer is restated from 20261130045507_lock_messages_during_erasure with that one
-- statement removed; the registry says why the rows are kept.

create or replace function private.erase_customer(customer uuid, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  caller_role text := coalesce((select auth.role()), 'system');
  person public.customers;
  blocking text;
  request_id uuid;
  counts jsonb := '{}'::jsonb;
  n integer;
  ids text[];
  contacts text[];
  digits text;
  chats text[];
  addresses text[];
  vendor_ids text[];
  document_ids uuid[];
  message_ids uuid[];
  case_ids uuid[];
  subject_ids uuid[];
begin
  if reason is null or length(btrim(reason)) not between 10 and 500 then
    raise exception 'a reason of 10 to 500 characters is required' using errcode = '22023';
  end if;

  -- Under an application role, the caller must see the customer (404 otherwise) and be an admin.
  select c.* into person from public.customers c where c.id = customer for update;
  if not found
     or caller_role = 'authenticated'
        and not (person.book_keys && private.visible_book_keys()) then
    raise exception 'customer % not found', customer using errcode = 'P0002';
  end if;
  if caller_role not in ('service_role', 'system') and not coalesce(private.is_admin(), false) then
    raise exception 'only admins erase customers' using errcode = '42501';
  end if;
  if person.erased_at is not null then
    raise exception 'customer % was already erased on %', customer, person.erased_at
      using errcode = '55000';
  end if;
  blocking := private.customer_payment_in_flight(customer, now());
  if blocking is not null then
    raise exception 'a payment is in flight for customer %: %', customer, blocking
      using errcode = '55000',
            hint = 'Wait for it to settle or expire, or cancel it, then erase.';
  end if;
  -- Lock the person's messages first: the dispatcher claims with skip locked, so none of them
  -- starts sending between this check and the end of the erasure.
  perform 1 from public.messages m where m.customer_id = customer for update of m;
  if exists (select 1 from public.messages m where m.customer_id = customer and m.status = 'sending') then
    raise exception 'a message to customer % is being handed to a vendor', customer
      using errcode = '55000', hint = 'Try again in a minute.';
  end if;

  -- The person's identifiers, lower case: phone (E.164, digits, national number), email,
  -- Telegram chats (contacts), and with the name (ids).
  digits := regexp_replace(coalesce(person.phone, ''), '\D', '', 'g');
  select coalesce(array_agg(distinct a.external_id), '{}') into chats
    from public.customer_social_accounts a where a.customer_id = customer;
  addresses := array_remove(array[person.phone, lower(person.email::text)], null) || chats;
  contacts := array_remove(array[
    lower(nullif(person.phone, '')),
    case when length(digits) >= 6 then digits end,
    case when digits ~ '^91[6-9][0-9]{9}$' then right(digits, 10) end,
    lower(nullif(person.email::text, ''))
  ], null) || array(select lower(x) from unnest(chats) x where length(x) >= 5);
  ids := contacts
         || array_remove(array[case when length(btrim(person.full_name)) >= 3
                                    then lower(btrim(person.full_name)) end], null);
  select coalesce(array_agg(rc.id), '{}') into case_ids
    from public.renewal_cases rc where rc.customer_id = customer;
  select coalesce(array_agg(m.id), '{}') into message_ids
    from public.messages m where m.customer_id = customer;

  perform set_config('py360.erasing_customer', customer::text, true);

  -- Consents: withdrawn on every channel and purpose (ledger rows, source erasure; the ledger
  -- upserts consents), then every ledger row's evidence replaced (the rows stay).
  insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence,
                                     recorded_by)
  select customer, ch, pu, 'withdrawn', 'erasure', '{"erased": true}'::jsonb, (select auth.uid())
    from unnest(enum_range(null::public.channel_type)) ch,
         unnest(enum_range(null::public.consent_purpose)) pu;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('consents_withdrawn', n);
  update public.consent_ledger l set evidence = '{"erased": true}'::jsonb
   where l.customer_id = customer and l.evidence <> '{"erased": true}'::jsonb;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('consent_evidence_erased', n);
  update public.consents c set evidence = '{"erased": true}'::jsonb
   where c.customer_id = customer and c.evidence <> '{"erased": true}'::jsonb;

  -- Messages: queued (and deferred) ones cancelled; every one's personal parts cleared.
  update public.messages m set status = 'cancelled', cancelled_at = now(), deferred_reason = null
   where m.customer_id = customer and m.status = 'queued';
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('messages_cancelled', n);
  update public.messages m
     set recipient = null, subject = null, body = '[erased]', body_html = null,
         variables = '{}'::jsonb, last_error = null,
         template_snapshot = case when m.template_snapshot is null then null
                                  else m.template_snapshot - 'whatsapp_parameters' end
   where m.customer_id = customer;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('messages', n);

  -- Delivery events of those messages, and inbound events naming the person's addresses.
  -- (Each payload is lowered to text once, then searched for every identifier.)
  update public.message_events e set payload = '{"erased": true}'::jsonb
   where e.payload <> '{"erased": true}'::jsonb
     and (e.message_id = any (message_ids)
          or exists (select 1 from (select lower(e.payload::text) as t) x, unnest(contacts) i
                      where strpos(x.t, i) > 0));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('message_events', n);

  -- Razorpay: webhook payloads and our requests about the person's money (found by Razorpay's
  -- ids, or naming their phone or email) lose their personal keys; one still naming the person
  -- after that is replaced whole.
  select coalesce(array_agg(lower(x)), '{}') into vendor_ids from (
    select p.razorpay_payment_id from public.payments p where p.case_id = any (case_ids)
    union select p.razorpay_order_id from public.payments p where p.case_id = any (case_ids)
    union select o.razorpay_order_id from public.payment_orders o where o.case_id = any (case_ids)
    union select l.razorpay_payment_link_id from public.payment_links l
           where l.case_id = any (case_ids)
    union select m.razorpay_subscription_id from public.autopay_mandates m
           where m.case_id = any (case_ids)
    union select r.razorpay_refund_id from public.refunds r where r.case_id = any (case_ids)) v(x)
   where x is not null;
  with found as (
    select e.id, private.strip_personal_keys(e.payload) as stripped
      from public.payment_events e
     where exists (select 1 from (select lower(e.payload::text) as t) x, unnest(vendor_ids || contacts) i
                    where strpos(x.t, i) > 0)),
  replaced as (
    select f.id,
           case when exists (select 1 from unnest(ids) i where strpos(lower(f.stripped::text), i) > 0)
                then jsonb_build_object('erased', true, 'event', e.event_type)
                else f.stripped end as payload
      from found f join public.payment_events e on e.id = f.id)
  update public.payment_events e set payload = r.payload
    from replaced r
   where r.id = e.id and e.payload is distinct from r.payload;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('payment_events', n);

  select coalesce(array_agg(x), '{}') into subject_ids from (
    select o.id from public.payment_orders o where o.case_id = any (case_ids)
    union select l.id from public.payment_links l where l.case_id = any (case_ids)
    union select m.id from public.autopay_mandates m where m.case_id = any (case_ids)
    union select r.id from public.refunds r where r.case_id = any (case_ids)
    union select p.id from public.payments p where p.case_id = any (case_ids)) v(x);
  with found as (
    select c.id, private.strip_personal_keys(c.request) as stripped
      from private.razorpay_calls c
     where c.subject_id = any (subject_ids)
        or exists (select 1 from (select lower(c.request::text) as t) x, unnest(contacts) i
                    where strpos(x.t, i) > 0)),
  replaced as (
    select f.id,
           case when exists (select 1 from unnest(ids) i where strpos(lower(f.stripped::text), i) > 0)
                then '{"erased": true}'::jsonb
                else f.stripped end as request
      from found f)
  update private.razorpay_calls c set request = r.request
    from replaced r
   where r.id = c.id and c.request is distinct from r.request;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('razorpay_calls', n);

  -- AI: prompts, answers and the desk's chat about the person's cases.
  update public.ai_requests a set prompt = null, response = null
   where (a.customer_id = customer or a.case_id = any (case_ids))
     and (a.prompt is not null or a.response is not null);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ai_requests', n);
  update public.ai_chat_messages a set content = '[erased]', redacted_content = '[erased]'
   where a.case_id = any (case_ids);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('ai_chat_messages', n);

  -- Linked accounts, link tokens, suppressions of the person's addresses, click user agents.
  delete from public.customer_social_accounts a where a.customer_id = customer;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('customer_social_accounts', n);
  delete from private.telegram_link_tokens t where t.customer_id = customer;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('telegram_link_tokens', n);
  delete from public.suppressions s
   where s.address = any (addresses) or lower(s.address) = any (addresses);
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('suppressions', n);
  update public.link_clicks k set user_agent = null
   where k.user_agent is not null
     and (k.case_id = any (case_ids)
          or k.tracked_link_id in (select t.id from public.tracked_links t where t.customer_id = customer));
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('link_clicks', n);

  -- Documents: those no law requires go (objects queued for deletion: the sweep deletes them
  -- through Storage, which removes their storage.objects rows);
  -- the kept ones get a generic file name.
  select coalesce(array_agg(d.id), '{}') into document_ids
    from public.documents d
   where d.customer_id = customer and not d.legal_hold
     and (d.retain_until is null or private.business_date(now()) >= d.retain_until);
  insert into private.object_deletions (bucket, object_key, reason)
  select d.bucket, d.object_key, 'erasure' from public.documents d where d.id = any (document_ids)
  on conflict (bucket, object_key) where done_at is null do nothing;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('objects_queued', n);
  delete from public.documents d where d.id = any (document_ids);
  counts := counts || jsonb_build_object('documents_deleted', cardinality(document_ids));
  update public.documents d
     set file_name = d.kind::text || '-' || left(d.id::text, 8)
                     || coalesce('.' || substring(d.file_name from '\.([A-Za-z0-9]{1,8})$'), '')
   where d.customer_id = customer;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('documents_renamed', n);

  -- The customer: a pseudonym, nothing else that identifies them.
  update public.customers c
     set full_name = 'Erased customer ' || left(replace(gen_random_uuid()::text, '-', ''), 8),
         phone = null, email = null, city = null, erased_at = now()
   where c.id = customer;
  counts := jsonb_build_object('customers', 1) || counts;

  insert into public.data_requests (kind, customer_id, reason, requested_by, status, completed_at)
  values ('erasure', customer, btrim(reason), (select auth.uid()), 'done', now())
  returning id into request_id;

  insert into public.audit_log (table_name, row_id, action, actor_id, actor_role, new_row)
  values ('customers', customer, 'update', (select auth.uid()), caller_role,
          jsonb_build_object('erased', true, 'data_request_id', request_id, 'counts', counts));

  perform set_config('py360.erasing_customer', '', true);
  return jsonb_build_object('data_request_id', request_id, 'counts', counts);
end;
$$;


update private.personal_data_columns
   set treatment = 'kept',
       why = 'A generic key ({…}/{document_id}/{kind}.{ext}, no file name). The rows of deleted '
             'documents'' objects go when the sweep deletes the objects through Storage, which '
             'finds an object by its row.'
 where table_name = 'storage.objects' and column_name = 'name';
update private.personal_data_columns
   set treatment = 'kept', why = 'Generated from name; kept with it.'
 where table_name = 'storage.objects' and column_name = 'path_tokens';
