-- Staff notifications through the outbound pipeline (issue 11, monitoring): a message may address
-- a desk user (messages.staff_id) instead of a customer, so an alert or a scheduled report is
-- queued, claimed, sent through the email provider (with its fallback), retried, tracked by the
-- vendors' callbacks and counted in spend like any message. private.notify_admins queues one
-- email per active admin.
--
-- What changes for the rest of the pipeline, checked function by function (grep of every use of
-- messages.customer_id): nothing. The gate (enqueue_messages) still takes only customers; staff
-- messages never pass through it, since consent, DND, the WhatsApp window, frequency caps and
-- quiet hours are about customers. The claim's send-time re-check (claim_messages) gives a
-- message with no customer no reason, so a staff email goes; the frequency cap, the cadence, the
-- lapse-risk score, the profile figures, the campaign functions and the SMS fallback all look up
-- messages by a customer, a case or a campaign, which a staff message never has. A bounce or a
-- complaint suppresses the address like any other (record_message_events). Nothing of the desk's
-- reads changes: the policy messages_select_member needs a customer the caller sees, so staff
-- messages are read by service_role and by the alerts' definer functions only (admins see their
-- delivery in GET /api/alerts); the desk's message endpoints stay about customers.
--
-- Staff messages are email only until Telegram is connected (issue 12 widens the check).

alter table public.messages alter column customer_id drop not null;
alter table public.messages
  add column staff_id uuid references public.profiles (id) on delete cascade,
  add column body_html text;
alter table public.messages
  add constraint messages_one_addressee check (num_nonnulls(customer_id, staff_id) = 1),
  add constraint messages_staff_by_email check (staff_id is null or channel = 'email');

comment on column public.messages.customer_id is
  'Who it is for: the customer; null for a message to a desk user (staff_id). Exactly one of '
  'customer_id and staff_id is set.';
comment on column public.messages.staff_id is
  'The desk user it is for (profiles.id), for staff notifications such as alerts and scheduled '
  'reports (private.notify_admins); null for customers'' messages. Email only for now.';
comment on column public.messages.body_html is
  'The HTML part of an email, sent beside the text body; null for text-only messages (every '
  'customer message today).';

create index messages_staff_idx on public.messages (staff_id, created_at desc) where staff_id is not null;

create function private.notify_admins(
  kind text,
  subject text,
  html text,
  text_body text,
  key text,
  as_of timestamptz default now()
) returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  rates jsonb := coalesce(private.setting('MESSAGE_RATES_PAISE'), '{}');
  provider text;
  created integer;
begin
  if kind is null or kind !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception 'kind is a code of lowercase letters, digits and _ (at most 40)' using errcode = '22023';
  end if;
  if key is null or length(key) not between 1 and 150 then
    raise exception 'key is 1 to 150 characters' using errcode = '22023';
  end if;
  if nullif(btrim(subject), '') is null or length(subject) > 300 then
    raise exception 'subject is 1 to 300 characters' using errcode = '22023';
  end if;
  if nullif(btrim(text_body), '') is null then
    raise exception 'text_body is required (the text part of the email)' using errcode = '22023';
  end if;
  if as_of is null or not isfinite(as_of) then
    raise exception 'as_of must be a finite time' using errcode = '22023';
  end if;

  select ch.provider into provider
    from public.channels ch where ch.type = 'email' and ch.enabled order by ch.name limit 1;

  with admins as (
    select p.id, lower(coalesce(u.email, p.email::text)) as recipient
      from public.profiles p
      left join auth.users u on u.id = p.id
     where p.role = 'admin' and p.active
  ),
  judged as (
    select a.*,
           case
             when provider is null then 'channel_disabled'
             when a.recipient is null or a.recipient = '' then 'no_address'
             when exists (select 1 from public.suppressions s
                           where s.channel = 'email' and s.address = a.recipient)
               then 'suppressed'
           end as reason
      from admins a
  ),
  stored as (
    insert into public.messages as m (
      staff_id, channel, purpose, variables, subject, body, body_html, recipient, priority,
      status, blocked_reason, blocked_at, idempotency_key, next_attempt_at, estimated_cost_paise,
      queued_at, provider, choice_reason)
    select j.id, 'email', 'transactional', jsonb_build_object('kind', kind), subject, text_body,
           html, j.recipient, 1,
           case when j.reason is null then 'queued' else 'blocked' end::public.message_status,
           j.reason,
           case when j.reason is not null then as_of end,
           format('staff:%s:%s', j.id, key),
           as_of,
           (rates ->> 'email')::numeric,
           as_of,
           case when j.reason is null then provider end,
           left(format('notify_admins: %s', kind), 500)
      from judged j
    on conflict on constraint messages_idempotency_key_key do nothing
    returning m.status
  )
  select count(*) filter (where stored.status = 'queued') into created from stored;

  if created > 0 then
    perform pg_notify('messages_queued', '');
  end if;
  return created;
end;
$$;

comment on function private.notify_admins(text, text, text, text, text, timestamptz) is
  'Queues one email per active admin (to their sign-in address) through the outbound pipeline: '
  'kind (a code kept in variables.kind, e.g. alert_raised, report_daily), subject, html (the HTML '
  'part, may be null), text_body (the text part, required), key (1-150 characters: one message '
  'per admin and key, idempotency key staff:<admin>:<key>), as_of (queued at). Transactional, '
  'priority 1, on the enabled email channel''s provider with its fallback. An admin whose '
  'address is suppressed, or with no enabled email channel, gets a blocked message saying why. '
  'Returns how many emails this call queued (0 when the key was used before). Errors: 22023 for '
  'a bad argument. Security definer: writes the outbox, which no API role may, and reads admins'' '
  'auth emails; for the evaluator, the reports and service_role.';

revoke execute on function private.notify_admins(text, text, text, text, text, timestamptz) from public;
grant execute on function private.notify_admins(text, text, text, text, text, timestamptz) to service_role;
