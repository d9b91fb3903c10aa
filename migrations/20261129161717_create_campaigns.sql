-- Campaigns (issue 9, slice 2): a manager's or an admin's one-off send to an audience of open
-- renewal cases in a hierarchy subtree, with A/B variants, off-peak spreading and follow-up steps
-- (flows). Tables only here: public.campaigns, campaign_variants, campaign_steps,
-- campaign_recipients, and messages.campaign_id (pause, cancel and stats find a campaign's
-- messages by it). Managers read and write the campaigns of their subtree, admins all, agents and
-- analysts none; status and every who/when column move only through the private.*_campaign
-- functions (next migration).

create type public.campaign_status as enum (
  'draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled'
);
comment on type public.campaign_status is
  'draft: being edited, not launched; scheduled: reserved for a launch at start_at by a job (not '
  'built yet); running: launched, its messages and flow go on; paused: its queued messages are '
  'held and its flow waits; completed: nobody left in its flow, nothing queued; cancelled: '
  'stopped, what was queued cancelled.';

create type public.campaign_step_condition as enum ('always', 'not_read', 'not_delivered');
comment on type public.campaign_step_condition is
  'Who gets a flow step, judged on the previous step''s message. always: everyone still in the '
  'flow; not_read: those who had not read it; not_delivered: those to whom it was neither '
  'delivered nor read.';

create table public.campaigns (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(btrim(name)) between 1 and 200),
  created_by uuid references auth.users (id) on delete set null,
  scope_node_id uuid not null references public.hierarchy_nodes (id) on delete restrict,
  channel public.channel_type not null check (channel in ('sms', 'email', 'whatsapp')),
  purpose public.consent_purpose not null check (purpose in ('service', 'marketing')),
  template_code text check (template_code is null or length(template_code) between 1 and 100),
  audience_filter jsonb not null default '{}' check (jsonb_typeof(audience_filter) = 'object'),
  start_at timestamptz,
  spread_rate_per_hour integer check (spread_rate_per_hour between 1 and 1000000),
  spread_window_start time,
  spread_window_end time,
  status public.campaign_status not null default 'draft',
  launched_at timestamptz,
  paused_at timestamptz,
  cancelled_at timestamptz,
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((spread_window_start is null) = (spread_window_end is null)),
  check (spread_window_start is null or spread_window_start < spread_window_end)
);

comment on table public.campaigns is
  'A campaign: one message (or an A/B choice of templates) to every open renewal case matching '
  'a filter inside a hierarchy subtree, then optional follow-up steps. Managers see and edit the '
  'campaigns of their subtree, admins all; launched through private.launch_campaign.';
comment on column public.campaigns.id is 'Identifier; part of every message key campaign:<id>:<customer>:<step>.';
comment on column public.campaigns.name is 'A name people recognise.';
comment on column public.campaigns.created_by is 'Who created it (stamped by the database).';
comment on column public.campaigns.scope_node_id is
  'The hierarchy node whose subtree the audience is drawn from: a manager''s own node or below.';
comment on column public.campaigns.channel is 'Channel of the first step: sms, email or whatsapp.';
comment on column public.campaigns.purpose is
  'The consent the first step needs: service (a renewal reminder) or marketing (an offer; '
  'promotional hours and marketing consent apply). A template''s own purpose prevails.';
comment on column public.campaigns.template_code is
  'Template of the first step when there are no variants (public.templates.code).';
comment on column public.campaigns.audience_filter is
  'Who gets it, as JSON with only these keys: product_line, stage, city, language, '
  'preferred_channel (a value or an array of values), expiry_from, expiry_to (dates of the '
  'case''s due_date, inclusive), premium_min, premium_max (paise). Empty: every open case.';
comment on column public.campaigns.start_at is 'Earliest send time of the first step; launch time when null.';
comment on column public.campaigns.spread_rate_per_hour is
  'Off-peak spreading: at most this many first-step sends per hour, recipients'' not_before '
  'staggered accordingly. Null: all at once (the dispatcher''s own rate limits apply).';
comment on column public.campaigns.spread_window_start is
  'Off-peak spreading: daily window (IST) inside which spread sends are placed; with spread_window_end.';
comment on column public.campaigns.spread_window_end is 'End of the daily spreading window (IST), exclusive.';
comment on column public.campaigns.status is 'draft, scheduled, running, paused, completed or cancelled.';
comment on column public.campaigns.launched_at is 'When it was launched (first launch).';
comment on column public.campaigns.paused_at is 'When it was last paused; null while not paused.';
comment on column public.campaigns.cancelled_at is 'When it was cancelled.';
comment on column public.campaigns.completed_at is 'When its flow finished for every recipient.';
comment on column public.campaigns.created_at is 'When the row was created.';
comment on column public.campaigns.updated_at is 'When the row last changed.';

create index campaigns_scope_node_id_idx on public.campaigns (scope_node_id);
create index campaigns_created_by_idx on public.campaigns (created_by);
create index campaigns_status_idx on public.campaigns (status) where status in ('running', 'paused');

create table public.campaign_variants (
  id uuid primary key default gen_random_uuid(),
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  code text not null check (code ~ '^[A-Za-z0-9_-]{1,20}$'),
  template_code text not null check (length(template_code) between 1 and 100),
  weight smallint not null check (weight between 1 and 100),
  created_at timestamptz not null default now(),
  unique (campaign_id, code)
);

comment on table public.campaign_variants is
  'A/B variants of a campaign''s first step: each a template and a share of the audience in '
  'percent (weights sum to 100, checked at launch). A recipient''s variant is a deterministic '
  'hash of campaign and customer.';
comment on column public.campaign_variants.id is 'Identifier.';
comment on column public.campaign_variants.campaign_id is 'The campaign.';
comment on column public.campaign_variants.code is 'Short name shown in stats (A, B, ...); the first by code is the control.';
comment on column public.campaign_variants.template_code is 'The template this variant sends (public.templates.code).';
comment on column public.campaign_variants.weight is 'Share of the audience, in percent.';
comment on column public.campaign_variants.created_at is 'When the row was created.';

create table public.campaign_steps (
  id uuid primary key default gen_random_uuid(),
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  position smallint not null check (position between 2 and 20),
  channel public.channel_type not null check (channel in ('sms', 'email', 'whatsapp')),
  template_code text not null check (length(template_code) between 1 and 100),
  wait interval not null check (wait >= interval '0'),
  condition public.campaign_step_condition not null default 'always',
  created_at timestamptz not null default now(),
  unique (campaign_id, position)
);

comment on table public.campaign_steps is
  'Follow-up steps of a campaign''s flow (the first step is the campaign itself): after the '
  'previous step''s message was sent (or refused) and the wait has passed, recipients for whom '
  'the condition holds get this step; the others leave the flow. Advanced by '
  'private.advance_campaign_flows every 5 minutes.';
comment on column public.campaign_steps.id is 'Identifier.';
comment on column public.campaign_steps.campaign_id is 'The campaign.';
comment on column public.campaign_steps.position is 'Order in the flow: 2, 3, ... (1 is the campaign''s own message).';
comment on column public.campaign_steps.channel is 'Channel of this step.';
comment on column public.campaign_steps.template_code is 'Template of this step (public.templates.code).';
comment on column public.campaign_steps.wait is 'How long after the previous step''s send this step is due.';
comment on column public.campaign_steps.condition is 'always, not_read or not_delivered (on the previous step''s message).';
comment on column public.campaign_steps.created_at is 'When the row was created.';

create table public.campaign_recipients (
  id uuid primary key default gen_random_uuid(),
  campaign_id uuid not null references public.campaigns (id) on delete cascade,
  customer_id uuid not null references public.customers (id) on delete cascade,
  case_id uuid references public.renewal_cases (id) on delete set null,
  variant_id uuid references public.campaign_variants (id) on delete set null,
  step smallint not null default 1 check (step between 1 and 20),
  message_id uuid references public.messages (id) on delete set null,
  due_at timestamptz,
  state text not null default 'active' check (state in ('active', 'done', 'cancelled')),
  next_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (campaign_id, customer_id)
);

comment on table public.campaign_recipients is
  'Who a launched campaign reached (one row per customer) and where they are in its flow. '
  'Written only by the campaign functions; visible with the campaign.';
comment on column public.campaign_recipients.id is 'Identifier.';
comment on column public.campaign_recipients.campaign_id is 'The campaign.';
comment on column public.campaign_recipients.customer_id is 'The customer.';
comment on column public.campaign_recipients.case_id is 'Their open case it was chosen for (the soonest due).';
comment on column public.campaign_recipients.variant_id is 'Their A/B variant; null when the campaign has none.';
comment on column public.campaign_recipients.step is 'The flow step they are at (1: the first message).';
comment on column public.campaign_recipients.message_id is 'The message of their current step (blocked ones included).';
comment on column public.campaign_recipients.due_at is
  'When the current step''s message was planned to go (the gate''s next_attempt_at: spreading, '
  'promotional hours); resume shifts it by the length of the pause.';
comment on column public.campaign_recipients.state is
  'active (a further step may come), done (the flow is over for them), cancelled (the campaign was).';
comment on column public.campaign_recipients.next_at is
  'Earliest time the next step may be due (the current message''s planned send + the wait); null when none.';
comment on column public.campaign_recipients.created_at is 'When they were added (launch).';
comment on column public.campaign_recipients.updated_at is 'When the row last changed.';

create index campaign_recipients_customer_id_idx on public.campaign_recipients (customer_id);
create index campaign_recipients_case_id_idx on public.campaign_recipients (case_id);
create index campaign_recipients_variant_id_idx on public.campaign_recipients (variant_id);
create index campaign_recipients_message_id_idx on public.campaign_recipients (message_id);
create index campaign_recipients_next_at_idx on public.campaign_recipients (next_at)
  where state = 'active';

alter table public.messages add column campaign_id uuid references public.campaigns (id) on delete set null;
comment on column public.messages.campaign_id is
  'The campaign that queued it, if any (set by the campaign functions).';
create index messages_campaign_id_idx on public.messages (campaign_id, status) where campaign_id is not null;

-- Who did it, from the session, never from the client.
create function private.tg_campaigns__stamp_created_by() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.created_by := (select auth.uid());
  new.status := 'draft';
  new.launched_at := null;
  new.paused_at := null;
  new.cancelled_at := null;
  new.completed_at := null;
  return new;
end;
$$;
comment on function private.tg_campaigns__stamp_created_by() is
  'Before insert on campaigns: created_by is the caller, a new campaign is a draft.';

create trigger _100_timestamps before update on public.campaigns
  for each row execute function private.tg__set_updated_at();
create trigger _100_timestamps before update on public.campaign_recipients
  for each row execute function private.tg__set_updated_at();
create trigger _200_stamp_created_by before insert on public.campaigns
  for each row execute function private.tg_campaigns__stamp_created_by();

do $$
declare
  audited text;
begin
  foreach audited in array array['campaigns', 'campaign_variants', 'campaign_steps'] loop
    execute format('create trigger _900_audit_insert after insert on public.%I
       referencing new table as new_rows for each statement execute function private.tg__audit()', audited);
    execute format('create trigger _900_audit_update after update on public.%I
       referencing old table as old_rows new table as new_rows
       for each statement execute function private.tg__audit()', audited);
    execute format('create trigger _900_audit_delete after delete on public.%I
       referencing old table as old_rows for each statement execute function private.tg__audit()', audited);
  end loop;
end
$$;

-- RLS: the campaign's scope node decides. managed_node_ids() is every node for an admin, the
-- subtree for a manager, nothing for agents and analysts.
alter table public.campaigns enable row level security;
alter table public.campaign_variants enable row level security;
alter table public.campaign_steps enable row level security;
alter table public.campaign_recipients enable row level security;

revoke all on public.campaigns, public.campaign_variants, public.campaign_steps,
  public.campaign_recipients from anon, authenticated;
grant select on public.campaigns, public.campaign_variants, public.campaign_steps,
  public.campaign_recipients to authenticated;
grant insert (name, scope_node_id, channel, purpose, template_code, audience_filter, start_at,
              spread_rate_per_hour, spread_window_start, spread_window_end)
  on public.campaigns to authenticated;
grant update (name, scope_node_id, channel, purpose, template_code, audience_filter, start_at,
              spread_rate_per_hour, spread_window_start, spread_window_end)
  on public.campaigns to authenticated;
grant delete on public.campaigns to authenticated;
grant insert (campaign_id, code, template_code, weight), update (template_code, weight), delete
  on public.campaign_variants to authenticated;
grant insert (campaign_id, position, channel, template_code, wait, condition),
      update (channel, template_code, wait, condition), delete
  on public.campaign_steps to authenticated;

create policy campaigns_select_manager on public.campaigns for select to authenticated
  using (scope_node_id in (select private.managed_node_ids()));
create policy campaigns_insert_manager on public.campaigns for insert to authenticated
  with check (scope_node_id in (select private.managed_node_ids()));
-- Only drafts are edited or deleted: a launched campaign is a record.
create policy campaigns_update_manager on public.campaigns for update to authenticated
  using (status = 'draft' and scope_node_id in (select private.managed_node_ids()))
  with check (status = 'draft' and scope_node_id in (select private.managed_node_ids()));
create policy campaigns_delete_manager on public.campaigns for delete to authenticated
  using (status = 'draft' and scope_node_id in (select private.managed_node_ids()));

create policy campaign_variants_select_manager on public.campaign_variants for select to authenticated
  using (campaign_id in (select c.id from public.campaigns c));
create policy campaign_variants_insert_manager on public.campaign_variants for insert to authenticated
  with check (campaign_id in (select c.id from public.campaigns c where c.status = 'draft'));
create policy campaign_variants_update_manager on public.campaign_variants for update to authenticated
  using (campaign_id in (select c.id from public.campaigns c where c.status = 'draft'))
  with check (campaign_id in (select c.id from public.campaigns c where c.status = 'draft'));
create policy campaign_variants_delete_manager on public.campaign_variants for delete to authenticated
  using (campaign_id in (select c.id from public.campaigns c where c.status = 'draft'));

create policy campaign_steps_select_manager on public.campaign_steps for select to authenticated
  using (campaign_id in (select c.id from public.campaigns c));
create policy campaign_steps_insert_manager on public.campaign_steps for insert to authenticated
  with check (campaign_id in (select c.id from public.campaigns c where c.status = 'draft'));
create policy campaign_steps_update_manager on public.campaign_steps for update to authenticated
  using (campaign_id in (select c.id from public.campaigns c where c.status = 'draft'))
  with check (campaign_id in (select c.id from public.campaigns c where c.status = 'draft'));
create policy campaign_steps_delete_manager on public.campaign_steps for delete to authenticated
  using (campaign_id in (select c.id from public.campaigns c where c.status = 'draft'));

create policy campaign_recipients_select_manager on public.campaign_recipients for select to authenticated
  using (campaign_id in (select c.id from public.campaigns c));
