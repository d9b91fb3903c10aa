-- The erasure's second review (issue 13): two gaps closed.
-- 1. Free text in the consent ledger survived the erasure. The desk's API accepts any
--    notice_version (1-100 characters) and any source matching ^[a-z][a-z0-9_]{1,39}$
--    ("x9812345671" passes), the erasure replaced only `evidence`, so a grant recorded with
--    notice_version "Aadhya Das aadhya@x.test 98123 45671" kept the person in the append-only
--    ledger, in consents.source and in audit_log (consents are audited).
--    * When a customer's erased_at goes from null to set (private.erase_customer does it near its
--      end, while py360.erasing_customer is still that customer), an after-update trigger on
--      customers replaces, on that customer's ledger rows and consents, every source that is not
--      one of the known codes (private.is_known_consent_source) and every notice_version that
--      does not look like a version (private.is_safe_notice_version) by 'erased'. The fact stays:
--      status, channel, purpose, who and when. The ledger's guard allows exactly this (evidence,
--      and source / notice_version becoming 'erased', under the same setting), nothing else.
--    * After the erasure, a withdrawal the desk (or a system) records for the person gets the same
--      treatment (the trigger of 20261130054516 that reduces its evidence).
--    * audit_log: a consent's source is stored only when it is a known code, '[redacted]'
--      otherwise (its evidence was already dropped; consents have no notice_version). Consents
--      stay audited: the audit row is where the acting user's request id is kept, which the
--      ledger does not hold, and the source a regulator needs is in the ledger.
--      Audit rows written before this migration cannot be changed (the log is immutable).
-- 2. After an erasure the desk could write the person back onto their rows. Now, for rows of an
--    erased customer (customers.erased_at set):
--    * documents.file_name becomes the generic name the erasure gives kept documents,
--      {kind}-{first 8 of id}[.ext] (on insert and on a rename);
--    * renewal_cases.lost_reason and tasks.outcome become '[erased]' when set;
--    * a new AI chat message about one of their cases is refused (55000 -> 409).
-- private.tg_consent_ledger__keep_append_only is restated from 20261130043500,
-- private.tg_consents__keep_erased_withdrawn from 20261130054516 and private.audit_row_sql from
-- 20261130051147, each with the one change.

-- Which consent texts hold no personal data.
create function private.is_known_consent_source(source text) returns boolean
language sql
immutable
set search_path = ''
as $$
  select source in ('agent_call', 'web_form', 'whatsapp_reply', 'sms_stop', 'withdrawal_link',
                    'import', 'erasure', 'erased', 'seed', 'email_reply', 'branch_visit')
$$;

comment on function private.is_known_consent_source(text) is
  'True when a consent''s source is one of the known codes (agent_call, web_form, whatsapp_reply, '
  'sms_stop, withdrawal_link, import, erasure, erased, seed, email_reply, branch_visit): a code '
  'that cannot carry personal data. Any other source (the API accepts any ^[a-z][a-z0-9_]{1,39}$, '
  'so x9812345671 too) is replaced by ''erased'' when the customer is erased and by '
  '''[redacted]'' in audit_log.';

revoke execute on function private.is_known_consent_source(text) from public;

create function private.is_safe_notice_version(notice_version text) returns boolean
language sql
immutable
set search_path = ''
as $$
  select notice_version ~ '^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$'
      or notice_version ~ '^v[0-9]{1,3}(\.[0-9]{1,3}){0,2}$'
      or notice_version = 'erased'
$$;

comment on function private.is_safe_notice_version(text) is
  'True when a privacy notice version has the shape of a version and nothing else: a year and '
  'month (2026-11, the form of CONSENT_NOTICE_VERSION), v1 / v2.1 / v2.1.3 (at most 3 digits a '
  'part, so no phone number fits), or ''erased''. Any other text is replaced by ''erased'' when '
  'the customer is erased.';

revoke execute on function private.is_safe_notice_version(text) from public;

-- 1. The ledger's guard: an erasure may also replace source and notice_version, by 'erased' only.
create or replace function private.tg_consent_ledger__keep_append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE'
     and current_setting('py360.erasing_customer', true) = old.customer_id::text
     and to_jsonb(new) - array['evidence', 'source', 'notice_version']
         = to_jsonb(old) - array['evidence', 'source', 'notice_version']
     and (new.source = old.source or new.source = 'erased')
     and (new.notice_version is not distinct from old.notice_version
          or new.notice_version = 'erased') then
    return new;
  end if;
  raise exception 'the consent ledger is append-only: % refused', tg_op
    using errcode = '42501',
          hint = 'Record a new row (a withdrawal or a new grant) instead.';
end;
$$;

comment on function private.tg_consent_ledger__keep_append_only() is
  'Trigger (_100_append_only): refuses UPDATE, DELETE and TRUNCATE of consent_ledger for every '
  'role, the owner included (42501). One exception: while a customer is being erased '
  '(transaction-local py360.erasing_customer = that customer''s id, set by the erasure''s definer '
  'function) an UPDATE of that customer''s rows that changes only evidence, and source or '
  'notice_version to ''erased''.';

-- 1. The erasure's end: the person's consent texts that are not known codes become 'erased'.
create function private.tg_customers__erase_consent_text() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.consent_ledger l
     set source = case when private.is_known_consent_source(l.source) then l.source else 'erased' end,
         notice_version = case when l.notice_version is null
                                    or private.is_safe_notice_version(l.notice_version)
                               then l.notice_version else 'erased' end
   where l.customer_id = new.id
     and (not private.is_known_consent_source(l.source)
          or not private.is_safe_notice_version(l.notice_version));
  update public.consents c set source = 'erased'
   where c.customer_id = new.id and not private.is_known_consent_source(c.source);
  return null;
end;
$$;

comment on function private.tg_customers__erase_consent_text() is
  'Trigger (_900_erase_consent_text, after update of erased_at on customers, when it goes from '
  'null to set): replaces, on the customer''s consent_ledger rows and consents, each source that '
  'is not a known code (private.is_known_consent_source) and each notice_version that is not a '
  'version (private.is_safe_notice_version) by ''erased''; status, channel, purpose, who and when '
  'stay. The ledger allows it only under py360.erasing_customer = the customer (set by '
  'private.erase_customer), so erased_at set any other way is refused (42501). Security definer.';

revoke execute on function private.tg_customers__erase_consent_text() from public;

create trigger _900_erase_consent_text after update of erased_at on public.customers
  for each row when (old.erased_at is null and new.erased_at is not null)
  execute function private.tg_customers__erase_consent_text();

-- 1. After the erasure, a withdrawal keeps no personal text either.
create or replace function private.tg_consents__keep_erased_withdrawn() returns trigger
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
  if not private.is_known_consent_source(new.source) then
    new.source := 'erased';
  end if;
  if tg_table_name = 'consent_ledger' then
    -- (nested: consents has no notice_version, and an AND is not short-circuited)
    if not private.is_safe_notice_version(new.notice_version) then
      new.notice_version := 'erased';
    end if;
  end if;
  if new.evidence = '{"erased": true}'::jsonb then
    return new;
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
  '(55000), replaces a source that is not a known code and a notice_version that is not a '
  'version by ''erased'', and reduces a withdrawal''s evidence to {message_id} when it names one '
  'of the customer''s messages (the one-tap link), {} otherwise ({"erased": true}, the erasure''s '
  'own, stays): nothing the desk or a system writes puts personal data back. Reads the customer '
  'FOR KEY SHARE on insert, so a row racing the erasure waits for it. Security definer: reads '
  'the customer whoever writes.';

-- 1. audit_log: a consent's source only when it is a known code.
create or replace function private.audit_row_sql(table_name text, this_alias text, other_alias text default null)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when table_name = 'consents' then format(
      '((to_jsonb(%I) - ''evidence'') || jsonb_build_object(''source'', case when '
      'private.is_known_consent_source(%I.source) then %I.source else ''[redacted]'' end))',
      this_alias, this_alias, this_alias)
    when count(k) = 0 then format('to_jsonb(%I)', this_alias)
    else format('case when num_nonnulls(%s) = 0 then to_jsonb(%I) else to_jsonb(%I)%s end',
      string_agg(format('%I.%I', this_alias, k)
                 || case when other_alias is not null then format(', %I.%I', other_alias, k) else '' end,
                 ', '),
      this_alias, this_alias,
      string_agg(
        case when other_alias is null
          then format(' || jsonb_build_object(%L, case when %I.%I is not null then ''[redacted]'' end)',
                      k, this_alias, k)
          else format(' || jsonb_build_object(%L, case when %I.%I is distinct from %I.%I '
                      'then ''[redacted: changed]'' when %I.%I is not null then ''[redacted]'' end)',
                      k, this_alias, k, other_alias, k, this_alias, k)
        end, ''))
  end
  from unnest(private.audit_redacted_columns(table_name)) as k
$$;

comment on function private.audit_row_sql(text, text, text) is
  'The SQL expression private.tg__audit stores for a row of table_name read as this_alias: its '
  'JSON less consents.evidence and with a consent''s source ''[redacted]'' unless it is a known '
  'code (private.is_known_consent_source), with private.audit_redacted_columns replaced '
  '(compared with other_alias, the row before an update, when given) when any of them is set '
  '(before or after), else the JSON as it is. Works on the record, so a row without those values '
  'costs nothing more.';

-- 2. Nothing the desk writes about an erased customer names them again.
create function private.tg_erased_customers__neutral_desk_text() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_table_name = 'documents' then
    if exists (select 1 from public.customers c
                where c.id = new.customer_id and c.erased_at is not null) then
      new.file_name := new.kind::text || '-' || left(new.id::text, 8)
                       || coalesce('.' || substring(new.file_name from '\.([A-Za-z0-9]{1,8})$'), '');
    end if;
  elsif tg_table_name = 'renewal_cases' then
    if exists (select 1 from public.customers c
                where c.id = new.customer_id and c.erased_at is not null) then
      new.lost_reason := '[erased]';
    end if;
  elsif tg_table_name = 'tasks' then
    if exists (select 1 from public.renewal_cases rc join public.customers c on c.id = rc.customer_id
                where rc.id = new.case_id and c.erased_at is not null) then
      new.outcome := '[erased]';
    end if;
  elsif tg_table_name = 'ai_chat_messages' then
    if exists (select 1 from public.renewal_cases rc join public.customers c on c.id = rc.customer_id
                where rc.id = new.case_id and c.erased_at is not null) then
      raise exception 'the customer of case % was erased: no chat about them is kept', new.case_id
        using errcode = '55000';
    end if;
  end if;
  return new;
end;
$$;

comment on function private.tg_erased_customers__neutral_desk_text() is
  'Trigger (_140_neutral_for_erased_customer) for rows of an erased customer (customers.erased_at '
  'set): documents.file_name becomes {kind}-{first 8 of id}[.ext] (on insert and rename), '
  'renewal_cases.lost_reason and tasks.outcome become ''[erased]'' when set, and an '
  'ai_chat_messages insert about their case is refused (55000). The triggers fire only when '
  'there is text to judge, so the daily jobs'' updates pay nothing; on documents it runs after '
  '_100_fill_owner has set customer_id. Security definer: reads the '
  'customer whoever writes.';

revoke execute on function private.tg_erased_customers__neutral_desk_text() from public;

create trigger _140_neutral_for_erased_customer before insert on public.documents
  for each row execute function private.tg_erased_customers__neutral_desk_text();
create trigger _140_neutral_for_erased_customer_rename before update of file_name on public.documents
  for each row when (new.file_name is distinct from old.file_name)
  execute function private.tg_erased_customers__neutral_desk_text();
create trigger _140_neutral_for_erased_customer before insert or update of lost_reason
  on public.renewal_cases
  for each row when (new.lost_reason is not null and new.lost_reason <> '[erased]')
  execute function private.tg_erased_customers__neutral_desk_text();
create trigger _140_neutral_for_erased_customer before insert or update of outcome on public.tasks
  for each row when (new.outcome is not null and new.outcome <> '[erased]')
  execute function private.tg_erased_customers__neutral_desk_text();
create trigger _140_neutral_for_erased_customer before insert on public.ai_chat_messages
  for each row execute function private.tg_erased_customers__neutral_desk_text();

-- The registry says what the erasure now does.
update private.personal_data_columns
   set treatment = 'erased',
       why = 'A code (web_form, sms_stop, erasure, ...); one that is not a known code '
             '(private.is_known_consent_source) becomes ''erased'' when the customer is erased, '
             'and on every later withdrawal.'
 where table_name = 'public.consent_ledger' and column_name = 'source';
update private.personal_data_columns
   set treatment = 'erased',
       why = 'The privacy notice''s version; one that is not a version (private.is_safe_notice_version) '
             'becomes ''erased'' when the customer is erased, and on every later withdrawal.'
 where table_name = 'public.consent_ledger' and column_name = 'notice_version';
update private.personal_data_columns
   set treatment = 'erased',
       why = 'Where the consent came from, a code (erasure after the erasure); one that is not a '
             'known code becomes ''erased''; audit_log keeps only known codes.'
 where table_name = 'public.consents' and column_name = 'source';
