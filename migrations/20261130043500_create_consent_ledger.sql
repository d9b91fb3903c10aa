-- The consent ledger (issue 13, DPDP Act 2023 s. 6: consent given and withdrawn must be provable,
-- and withdrawal as easy as giving). Every consent given or withdrawn, per customer x channel x
-- purpose, with where it came from (source), the proof (evidence), the privacy notice the person
-- saw (notice_version), who recorded it and when. The ledger is append-only: nobody (owner
-- included) updates, deletes or truncates it, with one exception: the erasure of a customer
-- (private.erase_customer, security definer) may replace the `evidence` of that customer's rows,
-- and only that column, recognised by the transaction-local setting py360.erasing_customer =
-- customer id (application roles cannot call set_config through the REST API; the ledger still
-- keeps the fact of the withdrawal).
--
-- public.consents stays the current state (the gate reads it on every message), kept in step with
-- the ledger in the same transaction:
--   * a ledger insert upserts consents with the latest row per customer, channel and purpose
--     (latest recorded_at wins; a backdated row does not overwrite a newer state);
--   * a direct write to consents (the seed, benches, the STOP handler, older SQL producers)
--     appends the ledger row.
-- Neither sync re-enters the other: each runs with the transaction-local flag
-- py360.consent_sync = 'on' and the other trigger does nothing while it is set.
-- The ledger is backfilled with one row per existing consent.

insert into public.app_settings (key, value, description) values
  ('CONSENT_NOTICE_VERSION', '"2026-11"',
   'The version of the privacy notice customers are shown now (e.g. "2026-11"): recorded on each '
   'consent ledger row written by the desk''s API and the withdrawal page, unless the request '
   'names another. Change it when the notice changes.')
on conflict (key) do nothing;

create table public.consent_ledger (
  id bigint generated always as identity primary key,
  customer_id uuid not null references public.customers (id),
  channel public.channel_type not null,
  purpose public.consent_purpose not null,
  status public.consent_status not null,
  source text not null check (length(btrim(source)) between 1 and 100),
  evidence jsonb not null default '{}' check (jsonb_typeof(evidence) = 'object'),
  notice_version text check (length(notice_version) between 1 and 100),
  recorded_by uuid,
  recorded_at timestamptz not null default now()
);

comment on table public.consent_ledger is
  'Every consent given or withdrawn, per customer, channel and purpose: append-only history '
  '(nobody may change or delete a row; an erasure replaces only evidence). The current state is '
  'public.consents, derived from the latest row (recorded_at, then id) of each customer, channel '
  'and purpose. Visible to the desk for the customers it sees; written by the API and the '
  'withdrawal page through definer functions, and by every direct write to consents.';
comment on column public.consent_ledger.customer_id is 'The customer it is for (customers.id).';
comment on column public.consent_ledger.channel is 'The channel it covers (see type channel_type).';
comment on column public.consent_ledger.purpose is
  'transactional (receipts), service (renewal reminders) or marketing (offers): separate consents.';
comment on column public.consent_ledger.status is 'granted or withdrawn at recorded_at.';
comment on column public.consent_ledger.source is
  'Where it was given or withdrawn: web_form, agent_call, whatsapp_reply, sms_stop, '
  'withdrawal_link, import, erasure, ...';
comment on column public.consent_ledger.evidence is
  'Proof for a regulator: form id, message id, call recording reference, ... A JSON object; '
  'replaced by a neutral one when the customer is erased.';
comment on column public.consent_ledger.notice_version is
  'The privacy notice the person saw (setting CONSENT_NOTICE_VERSION when recorded); null when '
  'not known (rows copied from direct writes to consents).';
comment on column public.consent_ledger.recorded_by is
  'The user who recorded it (auth.uid()); null for systems, imports and the customer themself.';
comment on column public.consent_ledger.recorded_at is 'When it was given or withdrawn.';

create index consent_ledger_customer_idx
  on public.consent_ledger (customer_id, recorded_at desc, id desc);

-- Backfill: one row per consent held today.
insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence,
                                   notice_version, recorded_by, recorded_at)
select c.customer_id, c.channel, c.purpose, c.status, c.source,
       case when jsonb_typeof(c.evidence) = 'object' then c.evidence
            else jsonb_build_object('value', c.evidence) end,
       null, c.recorded_by, c.recorded_at
  from public.consents c
 order by c.recorded_at, c.id;

-- Append-only, for every role.
create function private.tg_consent_ledger__keep_append_only() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE'
     and current_setting('py360.erasing_customer', true) = old.customer_id::text
     and to_jsonb(new) - 'evidence' = to_jsonb(old) - 'evidence' then
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
  'function) an UPDATE of that customer''s rows that changes only evidence.';

create trigger _100_append_only before update or delete on public.consent_ledger
  for each row execute function private.tg_consent_ledger__keep_append_only();
create trigger _100_append_only_truncate before truncate on public.consent_ledger
  for each statement execute function private.tg_consent_ledger__keep_append_only();

-- Ledger -> consents: the latest row of each customer, channel and purpose becomes the state.
create function private.tg_consent_ledger__sync_consents() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if current_setting('py360.consent_sync', true) = 'on' then
    return null;
  end if;
  perform set_config('py360.consent_sync', 'on', true);
  insert into public.consents as c (customer_id, channel, purpose, status, source, evidence,
                                    recorded_by, recorded_at)
  select distinct on (n.customer_id, n.channel, n.purpose)
         n.customer_id, n.channel, n.purpose, n.status, n.source, n.evidence, n.recorded_by,
         n.recorded_at
    from new_rows n
   order by n.customer_id, n.channel, n.purpose, n.recorded_at desc, n.id desc
  on conflict (customer_id, channel, purpose) do update
     set status = excluded.status, source = excluded.source, evidence = excluded.evidence,
         recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at
   where c.recorded_at <= excluded.recorded_at;
  perform set_config('py360.consent_sync', '', true);
  return null;
end;
$$;

comment on function private.tg_consent_ledger__sync_consents() is
  'Statement trigger (_900_sync_consents): upserts public.consents from the inserted ledger rows, '
  'the latest per customer, channel and purpose (recorded_at, then id), unless consents already '
  'holds a later state. Does nothing while py360.consent_sync is on (the write came from '
  'consents). Security definer: the ledger is written by service_role and definer functions, '
  'consents by the owner here.';

create trigger _900_sync_consents after insert on public.consent_ledger
  referencing new table as new_rows
  for each statement execute function private.tg_consent_ledger__sync_consents();

-- Consents -> ledger: a direct write appends its history.
create function private.tg_consents__append_ledger() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if current_setting('py360.consent_sync', true) = 'on' then
    return null;
  end if;
  perform set_config('py360.consent_sync', 'on', true);
  if tg_op = 'INSERT' then
    insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence,
                                       notice_version, recorded_by, recorded_at)
    select n.customer_id, n.channel, n.purpose, n.status, n.source,
           case when jsonb_typeof(n.evidence) = 'object' then n.evidence
                else jsonb_build_object('value', n.evidence) end,
           null, n.recorded_by, n.recorded_at
      from new_rows n
     order by n.recorded_at, n.id;
  else
    insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence,
                                       notice_version, recorded_by, recorded_at)
    select n.customer_id, n.channel, n.purpose, n.status, n.source,
           case when jsonb_typeof(n.evidence) = 'object' then n.evidence
                else jsonb_build_object('value', n.evidence) end,
           null, n.recorded_by, n.recorded_at
      from new_rows n
      join old_rows o on o.id = n.id
     where (n.customer_id, n.channel, n.purpose, n.status, n.source, n.evidence)
           is distinct from (o.customer_id, o.channel, o.purpose, o.status, o.source, o.evidence)
     order by n.recorded_at, n.id;
  end if;
  perform set_config('py360.consent_sync', '', true);
  return null;
end;
$$;

comment on function private.tg_consents__append_ledger() is
  'Statement triggers (_800_append_ledger_insert / _update): a direct insert into consents, or an '
  'update changing its status, source or evidence, appends the ledger row (notice_version null: '
  'not known). Does nothing while py360.consent_sync is on (the write came from the ledger). '
  'Security definer: the desk may not write the ledger itself.';

create trigger _800_append_ledger_insert after insert on public.consents
  referencing new table as new_rows
  for each statement execute function private.tg_consents__append_ledger();
create trigger _800_append_ledger_update after update on public.consents
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.tg_consents__append_ledger();

revoke execute on function private.tg_consent_ledger__keep_append_only(),
  private.tg_consent_ledger__sync_consents(), private.tg_consents__append_ledger() from public;

-- Who may read and write it: the desk reads the ledger of the customers it sees (as consents);
-- service_role reads and appends; nobody updates, deletes or truncates (the trigger says so to
-- the owner too).
alter table public.consent_ledger enable row level security;

revoke all on public.consent_ledger from anon, authenticated, service_role;
grant select on public.consent_ledger to authenticated;
grant select, insert on public.consent_ledger to service_role;

create policy consent_ledger_select_member on public.consent_ledger
  for select to authenticated
  using (exists (select 1 from public.customers c where c.id = consent_ledger.customer_id));

comment on table public.consents is
  'Current consent per customer, channel and purpose: the latest row of public.consent_ledger '
  '(the history, with evidence and notice version), kept in step by triggers in both directions. '
  'No row: nothing was recorded for that channel and purpose.';
