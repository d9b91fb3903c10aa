-- The figures behind the enhanced customer profile (issue 10, "GET /api/customers/{id}/profile
-- enhanced"): private.customer_profile_figures(customer, days, as_of) gathers, in one statement run
-- as the caller (row-level security decides which cases, messages, installments and payments
-- count), the lapse-risk scores of the customer's open cases, their engagement with our messages
-- over the last `days` (delivered, read, tracked links clicked, replies) with rates, and their
-- payment behaviour (installments paid on time / late, overdue now, failed payments). The same
-- figures are the only facts the profile's AI summary is written from.
-- * Replies are inbound messages (message_events of kind inbound), which name the customer only
--   by the address they came from, inside the vendor's payload: private.inbound_address reads it
--   (Twilio's From, without its whatsapp: prefix; WhatsApp Cloud's from, as +digits) and a partial
--   index on it finds a customer's replies without scanning the events. The desk may not read
--   unmatched events (their policy follows the message they answer), so the count comes from
--   private.customer_replies, security definer, which first applies the customers select
--   policy's rule to the caller.

create function private.inbound_address(provider text, payload jsonb) returns text
language sql immutable
set search_path = ''
as $$
  select case provider
           when 'twilio' then nullif(regexp_replace(payload ->> 'From', '^whatsapp:', ''), '')
           when 'whatsapp_cloud' then '+' || nullif(payload ->> 'from', '')
         end
$$;

comment on function private.inbound_address(text, jsonb) is
  'The address (E.164) an inbound message came from, read from the vendor''s payload as stored '
  'in message_events: Twilio''s From without its whatsapp: prefix, WhatsApp Cloud''s from as '
  '+digits; null for other vendors. Immutable: the index of replies by address is built on it.';

revoke execute on function private.inbound_address(text, jsonb) from public;

create index message_events_inbound_address_idx
  on public.message_events (private.inbound_address(provider, payload), occurred_at)
  where kind = 'inbound';

create function private.customer_replies(customer_id uuid, since timestamptz, as_of timestamptz)
returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select count(*)::integer
    from public.customers cu
    join public.message_events e
      on private.inbound_address(e.provider, e.payload) = cu.phone
     and e.kind = 'inbound'
     and e.occurred_at > customer_replies.since
     and e.occurred_at <= customer_replies.as_of
   where cu.id = customer_replies.customer_id
     and cu.book_keys && private.visible_book_keys()
$$;

comment on function private.customer_replies(uuid, timestamptz, timestamptz) is
  'How many messages (SMS or WhatsApp, any text) the customer sent us from their phone number '
  'after `since` and up to `as_of`; 0 for a customer the caller may not see (the customers select '
  'policy''s rule, applied here). Security definer: inbound messages match no message of ours, so '
  'the desk''s policy on message_events hides them; only the count leaves.';

revoke execute on function private.customer_replies(uuid, timestamptz, timestamptz) from public;
grant execute on function private.customer_replies(uuid, timestamptz, timestamptz) to authenticated;

create function private.customer_profile_figures(
  customer_id uuid,
  days integer default 90,
  as_of timestamptz default now()
)
returns jsonb
language sql
stable
set search_path = ''
as $$
  with params as (
    select customer_profile_figures.as_of - make_interval(days => customer_profile_figures.days) as since,
           customer_profile_figures.as_of as as_of,
           coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata') as tz
  ),
  cu as (
    select c.id from public.customers c where c.id = customer_profile_figures.customer_id
  ),
  open_cases as (
    select rc.id, rc.case_number, rc.stage, rc.due_date
      from public.renewal_cases rc, cu
     where rc.customer_id = cu.id
       and rc.stage in ('new', 'contacted', 'quoted', 'payment_pending', 'pending_lapse')
  ),
  risk as (
    select count(*)::integer as open_cases,
           count(r.case_id)::integer as scored,
           max(r.score)::integer as highest,
           coalesce(jsonb_agg(jsonb_build_object(
                      'case_id', o.id, 'case_number', o.case_number, 'stage', o.stage,
                      'score', r.score, 'band', r.band, 'model_version', r.model_version,
                      'scored_at', r.scored_at, 'reasons', r.reasons)
                    order by r.score desc, o.due_date, o.id) filter (where r.case_id is not null),
                    '[]') as cases
      from open_cases o
      left join public.case_risk_scores r on r.case_id = o.id
  ),
  sent as (
    select count(*) filter (where coalesce(m.sent_at, m.delivered_at, m.read_at) <= p.as_of)::integer as sent,
           count(*) filter (where least(m.delivered_at, m.read_at) <= p.as_of)::integer as delivered,
           count(*) filter (where m.read_at <= p.as_of)::integer as read,
           count(*) filter (where least(m.failed_at, m.dead_at) <= p.as_of)::integer as failed
      from public.messages m, cu, params p
     where m.customer_id = cu.id and m.created_at > p.since and m.created_at <= p.as_of
  ),
  links as (
    select count(*)::integer as offered,
           count(*) filter (where exists (
             select 1 from public.link_clicks lc
              where lc.tracked_link_id = tl.id
                and lc.clicked_at > p.since and lc.clicked_at <= p.as_of))::integer as clicked,
           coalesce(sum((select count(*) from public.link_clicks lc
                          where lc.tracked_link_id = tl.id
                            and lc.clicked_at > p.since and lc.clicked_at <= p.as_of)), 0)::integer as clicks
      from public.tracked_links tl, cu, params p
     where tl.customer_id = cu.id
       and tl.created_at <= p.as_of
       and (tl.expires_at is null or tl.expires_at > p.since)
  ),
  installments as (
    select count(*) filter (where a.status = 'paid' and a.paid_at <= p.as_of
                              and (a.paid_at at time zone p.tz)::date <= a.due_date)::integer as on_time,
           count(*) filter (where a.status = 'paid' and a.paid_at <= p.as_of
                              and (a.paid_at at time zone p.tz)::date > a.due_date)::integer as late,
           count(*) filter (where a.status in ('pending', 'overdue')
                              and a.due_date < (p.as_of at time zone p.tz)::date)::integer as overdue,
           coalesce(sum(a.amount - a.amount_paid)
                      filter (where a.status in ('pending', 'overdue')
                                and a.due_date < (p.as_of at time zone p.tz)::date), 0)::bigint
             as overdue_amount,
           count(*) filter (where a.status = 'pending'
                              and a.due_date >= (p.as_of at time zone p.tz)::date)::integer as upcoming,
           count(*) filter (where a.status = 'waived')::integer as waived
      from public.outstanding_amounts a
      join public.renewal_cases rc on rc.id = a.case_id
      cross join params p
      join cu on rc.customer_id = cu.id
  ),
  failures as (
    select count(*)::integer as failed, max(y.created_at) as last_failed_at
      from public.payments y
      join public.renewal_cases rc on rc.id = y.case_id
      cross join params p
      join cu on rc.customer_id = cu.id
     where y.status = 'failed' and y.created_at <= p.as_of
  )
  select jsonb_build_object(
           'since', p.since,
           'days', customer_profile_figures.days,
           'risk', jsonb_build_object(
             'open_cases', r.open_cases, 'scored_cases', r.scored, 'highest_score', r.highest,
             'highest_band', case when r.highest >= 65 then 'high' when r.highest >= 35 then 'medium'
                                  when r.highest is not null then 'low' end,
             'cases', r.cases),
           'engagement', jsonb_build_object(
             'messages_sent', s.sent, 'delivered', s.delivered, 'read', s.read,
             'failed', s.failed, 'links_offered', l.offered, 'links_clicked', l.clicked,
             'clicks', l.clicks, 'replies', rp.replies,
             'delivery_rate', round(s.delivered::numeric / nullif(s.sent, 0), 3),
             'read_rate', round(s.read::numeric / nullif(s.delivered, 0), 3),
             'click_rate', round(l.clicked::numeric / nullif(l.offered, 0), 3),
             'reply_rate', round(rp.replies::numeric / nullif(s.delivered, 0), 3)),
           'payment_behaviour', jsonb_build_object(
             'installments_paid_on_time', i.on_time, 'installments_paid_late', i.late,
             'installments_overdue', i.overdue, 'overdue_amount', i.overdue_amount,
             'installments_upcoming', i.upcoming, 'installments_waived', i.waived,
             'failed_payments', f.failed, 'last_failed_payment_at', f.last_failed_at,
             'on_time_rate', round(i.on_time::numeric / nullif(i.on_time + i.late, 0), 3)))
    from cu, params p, risk r, sent s, links l, installments i, failures f,
         lateral (select private.customer_replies(cu.id, p.since, p.as_of) as replies) rp
$$;

comment on function private.customer_profile_figures(uuid, integer, timestamptz) is
  'The figures of a customer''s profile as jsonb, counted under the caller''s row-level security '
  '(only the cases, messages and payments they may see), null for a customer they may not see: '
  'risk {open_cases, scored_cases, highest_score, highest_band, cases: the stored lapse-risk '
  'scores of the open cases, highest first}; engagement over the `days` before as_of '
  '{messages_sent (left us), delivered, read, failed, links_offered (tracked links live in the '
  'period), links_clicked, clicks, replies (inbound SMS / WhatsApp from their phone), '
  'delivery_rate = delivered / sent, read_rate = read / delivered, click_rate = links clicked / '
  'offered, reply_rate = replies / delivered (may pass 1): 3 decimals, null when nothing to '
  'divide by}; payment_behaviour over all their cases {installments_paid_on_time / _late (paid '
  'on or before / after the due IST date), installments_overdue and overdue_amount (paise still '
  'owed on installments past due), installments_upcoming, installments_waived, failed_payments, '
  'last_failed_payment_at, on_time_rate}. Only rows dated at or before as_of count.';

grant execute on function private.customer_profile_figures(uuid, integer, timestamptz) to authenticated;
