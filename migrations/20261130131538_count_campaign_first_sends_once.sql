-- A campaign's stats (GET /api/campaigns/{id}/stats, private.campaign_stats of 20261129182416)
-- found each recipient's first send with a look-up per recipient among the campaign's messages (a
-- lateral subquery: one index scan per recipient). Under the load of the whole `npm test` the
-- 10,000-recipient journey's stats ran past the 8 s statement_timeout of authenticated callers
-- (503, 57014: tests/e2e/campaign_ab_flow.test.ts, 2026-11-30). The first sends are
-- now found in one pass over the campaign's messages, grouped by customer and joined by hash; the
-- figures are unchanged (pgTAP 52, 53, 62, 64). Without JIT, like the other batch functions.

create or replace function private.campaign_stats(campaign_id uuid)
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
  read_rate numeric,
  read_difference numeric,
  read_significant boolean,
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
  return query
  with per as (
    select coalesce(v.code, '-') as variant,
           count(*)::integer as recipients,
           count(*) filter (where m.status in ('queued', 'sending'))::integer as queued,
           count(*) filter (where m.status = 'sent')::integer as sent,
           count(*) filter (where m.status = 'delivered')::integer as delivered,
           count(*) filter (where m.status = 'read')::integer as read,
           count(*) filter (where m.status in ('failed', 'undeliverable', 'dead'))::integer as failed,
           count(*) filter (where m.status = 'blocked' or m.id is null)::integer as blocked,
           count(*) filter (where m.status = 'cancelled')::integer as cancelled,
           -- Reached: delivered or read (a read implies delivery even when its callback came alone).
           count(*) filter (where m.delivered_at is not null or m.read_at is not null)::integer as reached,
           count(*) filter (where m.read_at is not null)::integer as readers,
           count(*) filter (where rc.stage = 'renewed' and first_send.at is not null
                              and rc.closed_at > first_send.at
                              and rc.closed_at <= first_send.at + conversion_window)::integer as converted
      from public.campaign_recipients r
      left join public.campaign_variants v on v.id = r.variant_id
      -- The variant's own message (the first step), not where the flow has got to since.
      left join public.messages m
        on m.idempotency_key = format('campaign:%s:%s:1', c.id, r.customer_id)
      left join public.renewal_cases rc on rc.id = r.case_id
      -- Each recipient's first send, from one pass over the campaign's messages (grouped by
      -- customer and hash-joined), not a look-up per recipient.
      left join (
        select m1.customer_id, min(m1.sent_at) as at from public.messages m1
         where m1.campaign_id = c.id
         group by m1.customer_id) first_send on first_send.customer_id = r.customer_id
     where r.campaign_id = c.id
     group by 1
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
         p.cancelled, coalesce(k.cost, 0), p.converted,
         round(private.proportion(p.readers, p.reached), 4),
         round(private.proportion(p.readers, p.reached) - private.proportion(ct.readers, ct.reached), 4),
         case when p.variant = ct.variant then null
              else coalesce(abs(private.two_proportion_z(p.readers, p.reached, ct.readers, ct.reached)) >= 1.96, false) end,
         round(private.proportion(p.converted, p.recipients), 4),
         round(private.proportion(p.converted, p.recipients) - private.proportion(ct.converted, ct.recipients), 4),
         case when p.variant = ct.variant then null
              else coalesce(abs(private.two_proportion_z(p.converted, p.recipients, ct.converted, ct.recipients)) >= 1.96, false) end
    from per p
    cross join control ct
    left join costs k on k.variant = p.variant
   order by p.variant;
end;
$$;
