-- Campaign stats (issue 9, slice 2): per variant, where each recipient's current message stands,
-- the cost, renewals after the first send, and two-proportion z-tests against the control (the
-- first variant by code) on delivery -> read and on conversion.

create function private.proportion(hits bigint, total bigint) returns numeric
language sql immutable
set search_path = ''
as $$ select case when total > 0 then hits::numeric / total end $$;
comment on function private.proportion(bigint, bigint) is 'hits / total as a fraction, null when total is 0.';

create function private.two_proportion_z(hits_a bigint, total_a bigint, hits_b bigint, total_b bigint)
returns double precision
language sql immutable
set search_path = ''
as $$
  -- Pooled two-proportion z statistic of a against b; null when undefined (an empty group, or a
  -- pooled rate of 0 or 1).
  select case
           when total_a > 0 and total_b > 0
                and (hits_a + hits_b) > 0 and (hits_a + hits_b) < (total_a + total_b)
           then ((hits_a::double precision / total_a) - (hits_b::double precision / total_b))
                / sqrt(((hits_a + hits_b)::double precision / (total_a + total_b))
                       * (1 - (hits_a + hits_b)::double precision / (total_a + total_b))
                       * (1.0 / total_a + 1.0 / total_b))
         end
$$;
comment on function private.two_proportion_z(bigint, bigint, bigint, bigint) is
  'Pooled two-proportion z-test statistic (a - b); |z| >= 1.96 is significant at 95 % (two-sided). '
  'Null when undefined.';

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
  read_rate numeric,
  read_difference numeric,
  read_significant boolean,
  conversion_rate numeric,
  conversion_difference numeric,
  conversion_significant boolean
)
language plpgsql
security definer
set search_path = ''
as $$
declare
  c public.campaigns := private.lock_runnable_campaign(campaign_id);
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
                              and rc.closed_at > first_send.at)::integer as converted
      from public.campaign_recipients r
      left join public.campaign_variants v on v.id = r.variant_id
      left join public.messages m on m.id = r.message_id
      left join public.renewal_cases rc on rc.id = r.case_id
      left join lateral (
        select min(m1.sent_at) as at from public.messages m1
         where m1.campaign_id = c.id and m1.customer_id = r.customer_id) first_send on true
     where r.campaign_id = c.id
     group by 1
  ),
  costs as (
    select coalesce(v.code, '-') as variant,
           coalesce(sum(coalesce(m.cost_paise, m.estimated_cost_paise))
                    filter (where m.status not in ('blocked', 'cancelled', 'queued')), 0) as cost
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
comment on function private.campaign_stats(uuid) is
  'Per variant (''-'' without variants; the control is the first by code): recipients by where '
  'their current message stands (queued includes sending and held; failed includes undeliverable '
  'and dead; blocked by the gate; the columns sum to recipients), cost in paise of what was sent '
  '(the vendor''s cost, else the estimate), converted = their case renewed after the first send; '
  'read_rate = read / reached (delivered or read), conversion_rate = converted / recipients, '
  'each with the difference to the control and whether a two-proportion z-test finds it '
  'significant at 95 % (null for the control). 42501 / P0002 as launch_campaign. Security '
  'definer: reads messages and cases of the whole campaign.';

revoke execute on function private.campaign_stats(uuid), private.proportion(bigint, bigint),
  private.two_proportion_z(bigint, bigint, bigint, bigint) from public, anon, authenticated, service_role;
grant execute on function private.campaign_stats(uuid) to authenticated, service_role;
