-- A campaign's stats list every variant and measure delivery and payment (issue 9, second review).
--
-- The issue asks, per A/B variant, for "delivery, read, payment within N days, with the
-- difference and whether it is significant". private.campaign_stats (20261130131538) compared
-- read rates and renewals only, and listed the variants that drew recipients: a 99/1 split over a
-- few customers could show one row, with no control to compare against, and a variant nobody drew
-- vanished from the report.
--
-- * Every variant of a launched campaign has its row (zeros when it drew nobody; its rates, and
--   its comparisons, null). The control is still the first variant by code, whether or not it drew
--   anyone. Before the launch there are no rows.
-- * delivery_rate: of the variant's own messages that went to the vendor (sent, delivered, read,
--   failed, undeliverable or dead), those that reached the customer (delivered or read).
-- * paid, payment_rate: recipients whose case has a payment captured within
--   CAMPAIGN_CONVERSION_DAYS after the campaign's first send to them (payments.captured_at; a
--   refund later does not undo it), over recipients. `converted` (the case renewed in that time)
--   stays, as the campaign's "converted to renewal".
-- * A comparison is null for the control and when either side has nothing to compare (no
--   messages reached, none sent, no recipients); a significance test that is undefined otherwise
--   (both sides at 0 % or both at 100 %) is false, as before.
--
-- The result's columns change, so the function is dropped and created again (its privileges
-- restated: executable by authenticated, which it checks itself, and service_role).

drop function private.campaign_stats(uuid);

create function private.campaign_stats(campaign_id uuid)
returns table (
  variant text,
  recipients integer,
  queued integer,
  sent integer,
  delivered integer,
  read integer,
  failed integer,
  blocked integer,
  cancelled integer,
  cost_paise numeric,
  converted integer,
  paid integer,
  delivery_rate numeric,
  delivery_difference numeric,
  delivery_significant boolean,
  read_rate numeric,
  read_difference numeric,
  read_significant boolean,
  payment_rate numeric,
  payment_difference numeric,
  payment_significant boolean,
  conversion_rate numeric,
  conversion_difference numeric,
  conversion_significant boolean
)
language plpgsql
stable
security definer
set search_path = ''
set jit = off
as $$
declare
  c public.campaigns := private.runnable_campaign(campaign_id);
  conversion_window interval := make_interval(days => coalesce(
    (private.setting('CAMPAIGN_CONVERSION_DAYS') #>> '{}')::integer, 30));
begin
  if c.launched_at is null then
    return;
  end if;
  return query
  with arms as (
    -- Every variant, or the campaign itself ('-') when it has none.
    select v.id, v.code from public.campaign_variants v where v.campaign_id = c.id
    union all
    select null, '-' where not exists (select 1 from public.campaign_variants v where v.campaign_id = c.id)
  ),
  first_send as (
    -- Each recipient's first send, from one pass over the campaign's messages (grouped by
    -- customer and hash-joined), not a look-up per recipient.
    select m1.customer_id, min(m1.sent_at) as at from public.messages m1
     where m1.campaign_id = c.id
     group by m1.customer_id
  ),
  payers as (
    -- Recipients whose case took a payment within the window after their first send.
    select distinct r.customer_id
      from public.campaign_recipients r
      join first_send f on f.customer_id = r.customer_id
      join public.payments p on p.case_id = r.case_id
     where r.campaign_id = c.id
       and p.captured_at > f.at and p.captured_at <= f.at + conversion_window
  ),
  counted as (
    -- Per variant that drew recipients: grouped first, each recipient's rows joined by equality
    -- (hash joins over the campaign's recipients), the variants with none added after.
    select r.variant_id,
           count(*)::integer as recipients,
           count(*) filter (where m.status in ('queued', 'sending'))::integer as queued,
           count(*) filter (where m.status = 'sent')::integer as sent,
           count(*) filter (where m.status = 'delivered')::integer as delivered,
           count(*) filter (where m.status = 'read')::integer as read,
           count(*) filter (where m.status in ('failed', 'undeliverable', 'dead'))::integer as failed,
           count(*) filter (where m.status = 'blocked' or m.id is null)::integer as blocked,
           count(*) filter (where m.status = 'cancelled')::integer as cancelled,
           -- Went to the vendor: what delivery is measured against.
           count(*) filter (where m.status in ('sent', 'delivered', 'read', 'failed',
                                               'undeliverable', 'dead'))::integer as attempted,
           -- Reached: delivered or read (a read implies delivery even when its callback came alone).
           count(*) filter (where m.delivered_at is not null or m.read_at is not null)::integer as reached,
           count(*) filter (where m.read_at is not null)::integer as readers,
           count(*) filter (where rc.stage = 'renewed' and f.at is not null
                              and rc.closed_at > f.at
                              and rc.closed_at <= f.at + conversion_window)::integer as converted,
           count(pay.customer_id)::integer as paid
      from public.campaign_recipients r
      -- The variant's own message (the first step), not where the flow has got to since.
      left join public.messages m
        on m.idempotency_key = format('campaign:%s:%s:1', c.id, r.customer_id)
      left join public.renewal_cases rc on rc.id = r.case_id
      left join first_send f on f.customer_id = r.customer_id
      left join payers pay on pay.customer_id = r.customer_id
     where r.campaign_id = c.id
     group by r.variant_id
  ),
  per as (
    select a.code as variant,
           coalesce(k.recipients, 0) as recipients, coalesce(k.queued, 0) as queued,
           coalesce(k.sent, 0) as sent, coalesce(k.delivered, 0) as delivered,
           coalesce(k.read, 0) as read, coalesce(k.failed, 0) as failed,
           coalesce(k.blocked, 0) as blocked, coalesce(k.cancelled, 0) as cancelled,
           coalesce(k.attempted, 0) as attempted, coalesce(k.reached, 0) as reached,
           coalesce(k.readers, 0) as readers, coalesce(k.converted, 0) as converted,
           coalesce(k.paid, 0) as paid
      from arms a
      left join counted k on k.variant_id is not distinct from a.id
  ),
  costs as (
    select coalesce(v.code, '-') as variant,
           coalesce(sum(coalesce(m.cost_paise, m.estimated_cost_paise))
                    filter (where m.sent_at is not null), 0) as cost
      from public.messages m
      join public.campaign_recipients r on r.campaign_id = c.id and r.customer_id = m.customer_id
      left join public.campaign_variants v on v.id = r.variant_id
     where m.campaign_id = c.id
     group by 1
  ),
  control as (
    select p.* from per p order by p.variant limit 1
  )
  select p.variant, p.recipients, p.queued, p.sent, p.delivered, p.read, p.failed, p.blocked,
         p.cancelled, coalesce(k.cost, 0), p.converted, p.paid,
         round(private.proportion(p.reached, p.attempted), 4),
         round(private.proportion(p.reached, p.attempted) - private.proportion(ct.reached, ct.attempted), 4),
         case when p.variant <> ct.variant and p.attempted > 0 and ct.attempted > 0
              then coalesce(abs(private.two_proportion_z(p.reached, p.attempted, ct.reached, ct.attempted)) >= 1.96, false) end,
         round(private.proportion(p.readers, p.reached), 4),
         round(private.proportion(p.readers, p.reached) - private.proportion(ct.readers, ct.reached), 4),
         case when p.variant <> ct.variant and p.reached > 0 and ct.reached > 0
              then coalesce(abs(private.two_proportion_z(p.readers, p.reached, ct.readers, ct.reached)) >= 1.96, false) end,
         round(private.proportion(p.paid, p.recipients), 4),
         round(private.proportion(p.paid, p.recipients) - private.proportion(ct.paid, ct.recipients), 4),
         case when p.variant <> ct.variant and p.recipients > 0 and ct.recipients > 0
              then coalesce(abs(private.two_proportion_z(p.paid, p.recipients, ct.paid, ct.recipients)) >= 1.96, false) end,
         round(private.proportion(p.converted, p.recipients), 4),
         round(private.proportion(p.converted, p.recipients) - private.proportion(ct.converted, ct.recipients), 4),
         case when p.variant <> ct.variant and p.recipients > 0 and ct.recipients > 0
              then coalesce(abs(private.two_proportion_z(p.converted, p.recipients, ct.converted, ct.recipients)) >= 1.96, false) end
    from per p
    cross join control ct
    left join costs k on k.variant = p.variant
   order by p.variant;
end;
$$;
comment on function private.campaign_stats(uuid) is
  'A launched campaign''s stats, one row per variant (''-'' without variants; every variant, '
  'zeros when it drew nobody; none before the launch): where each recipient''s own first-step '
  'message stands (queued ... cancelled add up to recipients), cost of what was sent (paise), '
  'converted (case renewed) and paid (a payment captured) within CAMPAIGN_CONVERSION_DAYS after '
  'the first send; rates (4 decimals) of delivery (reached / went to the vendor), read (read / '
  'reached), payment and conversion (/ recipients), each with its difference from the control '
  '(the first variant by code) and whether it is significant (two-proportion z-test, 95 %; null '
  'for the control or when a side is empty). Visible to whoever may run the campaign (42501, '
  'P0002 as private.runnable_campaign). Security definer.';
revoke execute on function private.campaign_stats(uuid) from public, anon;
grant execute on function private.campaign_stats(uuid) to authenticated, service_role;
