-- A customer's own opt-out stands until the customer gives consent again (issue 13's ledger,
-- found by issue 7's review). After a customer replied STOP to an SMS, any agent could give SMS
-- marketing back through POST /api/customers/{id}/consents (private.record_consent) with made-up
-- evidence (source agent_call, {"call_id": "x"}), and offers flowed again. Issue 7's rule is that
-- a regulatory opt-out is never overridden by priority or by an admin (TRAI's TCCCPR for the STOP;
-- DPDP Act 2023 s. 6(4) and GDPR Art. 21 in DOMAIN.md: withdrawal as easy as giving, an absolute
-- right to object to direct marketing).
--
-- * private.is_customer_consent_source: the sources that are the customer's own act, each written
--   only by a webhook or a page the customer used: sms_stop and whatsapp_reply (an opt-out reply),
--   email_unsubscribe (SendGrid's unsubscribe, 20261202055450), withdrawal_link (the one-tap
--   page), telegram_stop and telegram_start (the customer's /stop and /start in our bot).
-- * The rule, in the database so that no path skips it: when the latest row of the ledger from one
--   of those sources for a customer, channel and purpose is a withdrawal, public.consents may not
--   become `granted` from any other source (the desk, an admin, an import, the seed, a direct
--   write by service_role or the owner). Statement triggers on consents (_700_, insert and
--   update) check it, whichever way the state changes: the desk's ledger row reaches consents
--   through the ledger's sync, a direct write goes there itself. PY014 (-> 409 problem+json),
--   naming what stands and since when. A grant dated before that withdrawal is still appended to
--   the ledger as history; it does not become the state (the sync's latest-wins rule).
-- * A desk withdrawal on top does not open a way round: the rule reads the customer's latest own
--   row, not the current state's source.
-- * A withdrawal the desk recorded (an agent noting the customer's phone request, source
--   agent_call) can still be lifted by the desk with a grant and its evidence. Decided so because
--   DOMAIN.md asks that withdrawal be easy and honoured, and says nothing of who may lift a
--   withdrawal the desk wrote itself: that withdrawal and the grant after it are the same kind of
--   record (the desk's word, with who recorded it and when, in the ledger and the audit log),
--   and refusing it would leave a withdrawal recorded on the wrong customer or channel with no
--   way back. A customer's own act is its own proof; the desk's word cannot undo it.
-- * private.record_consent (restated from 20261130043800) refuses every customer source as "the
--   system's only" (22023), not just four of them: an agent recording a `telegram_start` grant
--   would otherwise pass as the customer.
-- * Today no path gives SMS, WhatsApp or email marketing back from the customer's side (there is
--   no START keyword or opt-in page yet): after a STOP those stay withdrawn until one is built and
--   its source added to private.is_customer_consent_source.
-- * private.restore_customer_opt_outs() withdraws again, once, every consent granted over a
--   customer's own withdrawal before this rule (source opt_out_restored, evidence naming the
--   customer's withdrawal and the grant it undoes); run here, and kept for after a restore of
--   old data.

create function private.is_customer_consent_source(source text) returns boolean
language sql
immutable
set search_path = ''
as $$
  select coalesce(source in ('sms_stop', 'whatsapp_reply', 'email_unsubscribe', 'withdrawal_link',
                             'telegram_stop', 'telegram_start'), false)
$$;

comment on function private.is_customer_consent_source(text) is
  'True when a consent''s source is the customer''s own act, recorded by a webhook or a page the '
  'customer used, never by the desk: sms_stop, whatsapp_reply (an opt-out reply), '
  'email_unsubscribe (SendGrid), withdrawal_link (the one-tap page), telegram_stop, '
  'telegram_start. A withdrawal from one of them is lifted only by a grant from one of them.';

revoke execute on function private.is_customer_consent_source(text) from public;

-- The rule.
create function private.tg_consents__keep_customer_opt_outs() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  refused record;
begin
  select n.customer_id, n.channel, n.purpose, own.source, own.recorded_at
    into refused
    from new_rows n
    cross join lateral (
      select l.status, l.source, l.recorded_at
        from public.consent_ledger l
       where l.customer_id = n.customer_id and l.channel = n.channel and l.purpose = n.purpose
         and private.is_customer_consent_source(l.source)
       order by l.recorded_at desc, l.id desc
       limit 1
    ) own
   where n.status = 'granted' and not private.is_customer_consent_source(n.source)
     and own.status = 'withdrawn'
   limit 1;
  if found then
    raise exception 'customer % withdrew their % consent on % themselves (%, % IST): only the '
                    'customer can give it again, not the desk or an import',
                    refused.customer_id, refused.purpose, refused.channel, refused.source,
                    to_char(refused.recorded_at at time zone 'Asia/Kolkata', 'YYYY-MM-DD HH24:MI')
      using errcode = 'PY014',
            hint = 'A customer''s own opt-out (an SMS STOP, a WhatsApp or email opt-out, the '
                   'withdrawal link, a Telegram /stop) is lifted only by the customer''s own '
                   'consent through one of our channels (such as a Telegram /start).';
  end if;
  return null;
end;
$$;

comment on function private.tg_consents__keep_customer_opt_outs() is
  'Statement triggers (_700_keep_customer_opt_outs_insert / _update on consents): refuses (PY014) '
  'a consent becoming granted from a source that is not the customer''s own '
  '(private.is_customer_consent_source) while the latest ledger row from the customer''s own '
  'sources for that customer, channel and purpose is a withdrawal. Every change of the state '
  'passes here: the desk''s and systems'' ledger rows through the ledger''s sync, direct writes '
  'themselves. Security definer: reads the ledger whoever writes.';

create trigger _700_keep_customer_opt_outs_insert after insert on public.consents
  referencing new table as new_rows
  for each statement execute function private.tg_consents__keep_customer_opt_outs();
create trigger _700_keep_customer_opt_outs_update after update on public.consents
  referencing new table as new_rows
  for each statement execute function private.tg_consents__keep_customer_opt_outs();

revoke execute on function private.tg_consents__keep_customer_opt_outs() from public;

-- The desk may not claim the customer's sources.
create or replace function private.record_consent(
  customer uuid,
  consent_channel public.channel_type,
  consent_purpose public.consent_purpose,
  consent_status public.consent_status,
  consent_source text,
  consent_evidence jsonb default '{}',
  consent_notice_version text default null
) returns public.consent_ledger
language plpgsql
security definer
set search_path = ''
as $$
declare
  recorded public.consent_ledger;
begin
  if customer is null or not exists (
       select 1 from public.customers c
        where c.id = customer and c.book_keys && private.visible_book_keys()) then
    raise exception 'no such customer' using errcode = 'P0002';
  end if;
  if consent_channel is null or consent_purpose is null or consent_status is null then
    raise exception 'channel, purpose and status are required' using errcode = '22023';
  end if;
  if consent_source is null or consent_source !~ '^[a-z][a-z0-9_]{1,39}$' then
    raise exception 'source is a snake_case code of 2 to 40 characters' using errcode = '22023';
  end if;
  if consent_source in ('erasure', 'opt_out_restored')
     or private.is_customer_consent_source(consent_source) then
    raise exception 'source % is recorded by the system only', consent_source using errcode = '22023';
  end if;
  if consent_evidence is null or jsonb_typeof(consent_evidence) <> 'object' then
    raise exception 'evidence is a JSON object' using errcode = '22023';
  end if;
  if consent_status = 'granted' and consent_evidence = '{}' then
    raise exception 'a consent granted on the desk needs its evidence: the form, message or call it came from'
      using errcode = '23514';
  end if;
  insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence,
                                     notice_version, recorded_by, recorded_at)
  values (customer, consent_channel, consent_purpose, consent_status, consent_source,
          consent_evidence,
          coalesce(consent_notice_version, private.setting('CONSENT_NOTICE_VERSION') #>> '{}'),
          (select auth.uid()), now())
  returning * into recorded;
  return recorded;
end;
$$;

comment on function private.record_consent(uuid, public.channel_type, public.consent_purpose,
  public.consent_status, text, jsonb, text) is
  'The desk records a consent given or withdrawn (POST /api/customers/{id}/consents): appends a '
  'consent_ledger row (which becomes the state in consents) stamped with auth.uid(), now() and the '
  'notice version (CONSENT_NOTICE_VERSION unless given). P0002 for a customer the caller does not '
  'see (the customers select policy''s rule); 22023 for a malformed source or evidence, or a '
  'system source (erasure, opt_out_restored, or one of the customer''s own: '
  'private.is_customer_consent_source); 23514 for a grant without evidence; PY014 for a grant '
  'over the customer''s own withdrawal (the consents trigger _700_keep_customer_opt_outs); 55000 '
  'for anything but a withdrawal of an erased customer. Security definer: the desk may not write '
  'the ledger itself.';

-- Opt-outs overridden before the rule.
create function private.restore_customer_opt_outs() returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  restored integer;
begin
  insert into public.consent_ledger (customer_id, channel, purpose, status, source, evidence,
                                     notice_version, recorded_by, recorded_at)
  select c.customer_id, c.channel, c.purpose, 'withdrawn', 'opt_out_restored',
         jsonb_build_object('customer_withdrawal_id', own.id, 'overridden_source', c.source,
                            'overridden_at', c.recorded_at),
         null, null, greatest(now(), c.recorded_at)
    from public.consents c
    cross join lateral (
      select l.id, l.status
        from public.consent_ledger l
       where l.customer_id = c.customer_id and l.channel = c.channel and l.purpose = c.purpose
         and private.is_customer_consent_source(l.source)
       order by l.recorded_at desc, l.id desc
       limit 1
    ) own
   where c.status = 'granted' and not private.is_customer_consent_source(c.source)
     and own.status = 'withdrawn';
  get diagnostics restored = row_count;
  return restored;
end;
$$;

comment on function private.restore_customer_opt_outs() is
  'Withdraws again every consent that is granted from a source other than the customer''s own '
  'while the customer''s latest own row for it is a withdrawal (a grant over an opt-out, written '
  'before the rule of 20261202055416 or with its trigger off): a ledger row, source '
  'opt_out_restored, evidence {customer_withdrawal_id, overridden_source, overridden_at}, '
  'recorded by nobody. Returns how many. Run once by that migration; the owner''s only. Security '
  'definer: writes the ledger.';

revoke execute on function private.restore_customer_opt_outs() from public;

select private.restore_customer_opt_outs();
