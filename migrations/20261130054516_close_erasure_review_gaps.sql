-- The erasure's review (issue 13): four gaps closed.
-- 1. The desk could put personal data back onto an erased customer: a consent granted after the
--    erasure (POST /api/customers/{id}/consents, evidence naming the person) was stored for ever
--    in the append-only ledger and granted marketing again. Now the ledger and public.consents
--    refuse (55000 -> 409) every row of an erased customer but a withdrawal, and a withdrawal's
--    evidence is reduced to what holds no personal data: {message_id} when it names one of the
--    customer's own messages (the one-tap withdrawal link of an old message still works, and
--    changes nothing that matters: the erasure withdrew everything already), {} otherwise.
--    The check reads the customer FOR KEY SHARE on insert (as the foreign key does), so a consent
--    racing the erasure waits for it and sees it committed. The erasure's own rows are written
--    before the customer is stamped erased, so they pass as before.
-- 2. Free text about the person survived: tasks.outcome (the agent's note of a call) and
--    renewal_cases.lost_reason. The erasure replaces both with '[erased]' on the person's tasks
--    and cases. A closed case is frozen (_150_freeze_closed), a done task's outcome too
--    (_200_stamp_done): each allows this one change, and
--    only under py360.erasing_customer = the case's customer (set locally by the erasure's
--    definer function; API roles cannot set it), as the consent ledger does.
-- 3. The erasure's reason was stored verbatim ("Request from Aadhya Das (aadhya@x.test, ...)").
--    Before storing it, and in the reasons of the person's earlier requests (exports), the
--    erasure replaces the person's email, full name, phone (+91..., 91..., 0..., the national
--    number, with spaces, dashes, dots or brackets) and each part of their name of 3 or more
--    characters, case-insensitively, with <customer>.
-- 4. A payment link opened while the erasure ran escaped its in-flight check: the check read
--    before the opener committed. The erasure now locks the person's renewal cases (FOR UPDATE,
--    in id order) before the check; open_payment_order, open_payment_link, open_autopay and
--    request_refund hold their case's lock (private.lock_case, FOR NO KEY UPDATE) until they
--    commit, so the check waits for them and then sees what they made (READ COMMITTED: a new
--    snapshot per statement), and refuses.
-- private.erase_customer is restated from 20261130052403_leave_storage_rows_to_the_sweeper with
-- those changes (every clause kept); private.tg_renewal_cases__freeze_closed from
-- 20261129001300_enforce_renewal_rules and private.tg_tasks__stamp_done from
-- 20261129182416_fix_issue_9_review, each with the one exception.

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
  patterns text[] := '{}';
  national text;
  pattern text;
  earlier record;
  scrubbed text;
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
  -- Lock the person's cases (in id order) before judging the money in flight: whoever opens a
  -- payment order, link, autopay or refund holds its case's lock (private.lock_case, FOR NO KEY
  -- UPDATE) until it commits, so the check below waits for them and sees what they made.
  perform 1 from public.renewal_cases rc where rc.customer_id = customer order by rc.id for update of rc;
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

  -- The desk's free text about the person: call outcomes of their tasks and why their renewals
  -- were lost (closed cases allow this one change under py360.erasing_customer).
  update public.tasks t set outcome = '[erased]'
   where t.case_id = any (case_ids) and t.outcome is not null and t.outcome <> '[erased]';
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('task_outcomes', n);
  update public.renewal_cases rc set lost_reason = '[erased]'
   where rc.id = any (case_ids) and rc.lost_reason is not null and rc.lost_reason <> '[erased]';
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('lost_reasons', n);

  -- The reasons of the person's requests (this one, their exports) lose their identifiers:
  -- email, full name, phone (+91..., 91..., 0..., the national number, spaced or dashed), and
  -- each part of the name of 3 letters or more, case-insensitively, each replaced by <customer>.
  if nullif(btrim(person.email::text), '') is not null then
    patterns := patterns || regexp_replace(btrim(person.email::text), '([^[:alnum:][:space:]])', '\\\1', 'g');
  end if;
  if length(btrim(person.full_name)) >= 3 then
    patterns := patterns || regexp_replace(regexp_replace(btrim(person.full_name), '([^[:alnum:][:space:]])', '\\\1', 'g'), '\s+', '\\s+', 'g');
  end if;
  national := case when digits ~ '^91[0-9]{10}$' then right(digits, 10) else digits end;
  if length(national) >= 6 then
    patterns := patterns
      || ('(\+[\s-]*)?' || case when national <> digits then '(91[\s().-]*)?(0[\s().-]*)?' else '' end
          || array_to_string(regexp_split_to_array(national, ''), '[\s().-]*'));
  end if;
  patterns := patterns || array(
    select regexp_replace(p, '([^[:alnum:][:space:]])', '\\\1', 'g') from regexp_split_to_table(btrim(person.full_name), '[[:space:][:punct:]]+') p
     where char_length(p) >= 3 order by char_length(p) desc, p);
  for earlier in select r.id, r.reason from public.data_requests r
                  where r.customer_id = customer and r.reason is not null loop
    scrubbed := earlier.reason;
    foreach pattern in array patterns loop
      scrubbed := regexp_replace(scrubbed, pattern, '<customer>', 'gi');
    end loop;
    if scrubbed is distinct from earlier.reason then
      update public.data_requests r set reason = left(scrubbed, 1000) where r.id = earlier.id;
    end if;
  end loop;
  scrubbed := btrim(reason);
  foreach pattern in array patterns loop
    scrubbed := regexp_replace(scrubbed, pattern, '<customer>', 'gi');
  end loop;

  -- The customer: a pseudonym, nothing else that identifies them.
  update public.customers c
     set full_name = 'Erased customer ' || left(replace(gen_random_uuid()::text, '-', ''), 8),
         phone = null, email = null, city = null, erased_at = now()
   where c.id = customer;
  counts := jsonb_build_object('customers', 1) || counts;

  insert into public.data_requests (kind, customer_id, reason, requested_by, status, completed_at)
  values ('erasure', customer, left(scrubbed, 1000), (select auth.uid()), 'done', now())
  returning id into request_id;

  insert into public.audit_log (table_name, row_id, action, actor_id, actor_role, new_row)
  values ('customers', customer, 'update', (select auth.uid()), caller_role,
          jsonb_build_object('erased', true, 'data_request_id', request_id, 'counts', counts));

  perform set_config('py360.erasing_customer', '', true);
  return jsonb_build_object('data_request_id', request_id, 'counts', counts);
end;
$$;

comment on function private.erase_customer(uuid, text) is
  'Erases a customer at their request, in one transaction, and answers {data_request_id, '
  'counts: {table: rows}}. Refused: reason not 10-500 characters (22023); customer unknown, or '
  'not visible to the calling user (P0002); caller an application user but not an admin (42501); '
  'already erased, a payment in flight (private.customer_payment_in_flight, judged after locking '
  'the person''s cases, so an order, link, autopay or refund being opened is waited for and '
  'seen) or a message being handed to a vendor (55000). Erased: name -> "Erased customer '
  '<random>", phone, email, city; messages'' recipient, subject, bodies, variables, template '
  'parameters, vendor error text (queued ones cancelled); payloads of their message events and of '
  'inbound events from their addresses; personal keys of Razorpay webhook payloads and requests '
  'about their money; AI prompts, answers and chat; linked social accounts, Telegram tokens, '
  'suppressions of their addresses, click user agents; documents no law requires (objects queued '
  'in private.object_deletions; Storage removes their rows when the sweep deletes them), generic '
  'file names for the kept ones; their tasks'' outcomes and cases'' lost reasons (''[erased]''); '
  'consents withdrawn on every channel and purpose (ledger rows, source erasure) and every '
  'ledger row''s evidence replaced; the person''s identifiers in the reason (and in their earlier '
  'requests'' reasons) replaced by <customer>. Kept: policies, premiums, payments, allocations, '
  'refunds, cases and tasks (see private.personal_data_columns). Records a data_requests row '
  '(erasure, done) and one audit_log row. Security definer: it writes tables no API role may '
  'write; granted to authenticated (checked as admin inside) and service_role.';

-- 1. No consent is given to an erased customer again; a withdrawal keeps no personal evidence.
create function private.tg_consents__keep_erased_withdrawn() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  erased timestamptz;
  message text;
begin
  if tg_op = 'INSERT' then
    -- FOR KEY SHARE, as the foreign key: a row racing the erasure waits for it and sees it.
    select c.erased_at into erased from public.customers c where c.id = new.customer_id for key share;
  else
    select c.erased_at into erased from public.customers c where c.id = new.customer_id;
  end if;
  if erased is null then
    return new;
  end if;
  if new.status is distinct from 'withdrawn' then
    raise exception 'customer % was erased on %: no consent is given for them again', new.customer_id, erased
      using errcode = '55000',
            hint = 'An erased customer''s consents stay withdrawn; only a withdrawal is recorded.';
  end if;
  message := case when jsonb_typeof(new.evidence) = 'object' then new.evidence ->> 'message_id' end;
  new.evidence := case
    when message ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
         and exists (select 1 from public.messages m
                      where m.id = message::uuid and m.customer_id = new.customer_id)
      then jsonb_build_object('message_id', message::uuid)
    else '{}'::jsonb
  end;
  return new;
end;
$$;

comment on function private.tg_consents__keep_erased_withdrawn() is
  'Trigger (_050_keep_erased_withdrawn, before insert on consent_ledger, before insert or update '
  'on consents): for a customer already erased (erased_at set), refuses any row but a withdrawal '
  '(55000) and reduces a withdrawal''s evidence to {message_id} when it names one of the '
  'customer''s messages (the one-tap link), {} otherwise: nothing the desk or a system writes puts '
  'personal data back. Reads the customer FOR KEY SHARE on insert, so a row racing the erasure '
  'waits for it. Security definer: reads the customer whoever writes.';

revoke execute on function private.tg_consents__keep_erased_withdrawn() from public;

create trigger _050_keep_erased_withdrawn before insert on public.consent_ledger
  for each row execute function private.tg_consents__keep_erased_withdrawn();
create trigger _050_keep_erased_withdrawn before insert or update on public.consents
  for each row execute function private.tg_consents__keep_erased_withdrawn();

-- 2. A closed case is frozen, but for the erasure of its lost reason.
create or replace function private.tg_renewal_cases__freeze_closed() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if private.case_stage_is_final(old.stage)
     and (new.stage, new.assignee_id, new.priority, new.lost_reason, new.due_date, new.grace_end,
          new.policy_id, new.customer_id)
         is distinct from
         (old.stage, old.assignee_id, old.priority, old.lost_reason, old.due_date, old.grace_end,
          old.policy_id, old.customer_id)
     and new.stage is not distinct from old.stage then
    -- The erasure of the case's customer replaces the agent's words, and nothing else.
    if current_setting('py360.erasing_customer', true) = old.customer_id::text
       and new.lost_reason = '[erased]'
       and (new.assignee_id, new.priority, new.due_date, new.grace_end, new.policy_id, new.customer_id)
           is not distinct from
           (old.assignee_id, old.priority, old.due_date, old.grace_end, old.policy_id, old.customer_id) then
      return new;
    end if;
    raise exception 'case % is closed (%): it no longer changes', old.case_number, old.stage
      using errcode = 'PY006';
  end if;
  return new;
end;
$$;

comment on function private.tg_renewal_cases__freeze_closed() is
  'Trigger: a renewed, lapsed, lost or not_taken case no longer changes (PY006). Stage changes '
  'out of a final stage are refused by the stage machine (PY002). One exception: the erasure of '
  'the case''s customer (py360.erasing_customer = customer_id, set by private.erase_customer) '
  'replaces lost_reason by ''[erased]'', nothing else.';

-- 2. A done task keeps its outcome, but for the erasure of its case's customer.
create or replace function private.tg_tasks__stamp_done() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.status = 'done' and (new.status <> 'done' or new.outcome is distinct from old.outcome) then
    -- The erasure of the case's customer replaces the agent's words, and nothing else.
    if new.status = 'done' and new.outcome = '[erased]'
       and nullif(current_setting('py360.erasing_customer', true), '') is not null
       and exists (select 1 from public.renewal_cases c
                    where c.id = old.case_id
                      and c.customer_id::text = current_setting('py360.erasing_customer', true)) then
      return new;
    end if;
    raise exception 'a done task stays done, with its outcome' using errcode = '22023';
  end if;
  if new.status = 'done' and old.status <> 'done' then
    new.done_at := now();
  end if;
  if new.status <> 'snoozed' then
    new.snoozed_until := null;
  end if;
  return new;
end;
$$;

comment on function private.tg_tasks__stamp_done() is
  'Before update on tasks: refuses to reopen a done task or change its outcome (22023), stamps '
  'done_at when it becomes done, clears snoozed_until when it is no longer snoozed. One '
  'exception: the erasure of the task''s case''s customer (py360.erasing_customer, set by '
  'private.erase_customer) replaces a done task''s outcome by ''[erased]''.';

-- The registry says what the erasure now does.
update private.personal_data_columns
   set treatment = 'erased',
       why = 'The agent''s note of a call may name the person, their phone or email: replaced by '
             '''[erased]'' on the person''s tasks (the audit log keeps only [redacted]).'
 where table_name = 'public.tasks' and column_name = 'outcome';
update private.personal_data_columns
   set treatment = 'erased',
       why = 'Why the renewal was lost, in the agent''s words (may name the person): replaced by '
             '''[erased]'' on the person''s cases (a closed case allows this one change).'
 where table_name = 'public.renewal_cases' and column_name = 'lost_reason';
update private.personal_data_columns
   set treatment = 'erased',
       why = 'Why the request was made, as the admin wrote it (the evidence that it was answered): '
             'the person''s email, name, name parts of 3+ characters and phone in it are replaced '
             'by <customer>, in the erasure''s reason and their earlier requests''.'
 where table_name = 'public.data_requests' and column_name = 'reason';
update private.personal_data_columns
   set why = 'Replaced by {"erased": true} (the only change the ledger allows, under '
             'py360.erasing_customer); the rows stay: the fact of each withdrawal is kept. After '
             'the erasure only withdrawals are recorded, with evidence {message_id} or {}.'
 where table_name = 'public.consent_ledger' and column_name = 'evidence';
