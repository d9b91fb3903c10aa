// Messages for the analytics benchmark: tops a book up to a month's traffic, day by day, with
// messages shaped like the dispatcher's (every status, each channel's providers, queue-to-sent and
// queue-to-delivered latencies, vendor prices on some), on the book's own cases. They carry
// idempotency keys `bench-analytics:<day>:<n>`, so a second run adds only what is missing and
// `remove` finds them.
import type postgres from "postgres";

/** What to top up: the last `days` IST days before today, to `perDay` messages each. */
export interface TopUp {
  days: number;
  perDay?: number;
  /** Delete the messages an earlier top-up added instead. */
  remove?: boolean;
}

/**
 * Adds, for each of the last `days` IST days (yesterday backwards), the messages that day lacks to
 * reach `perDay` (queued at spread times of the day), each for a case of the book chosen by a hash
 * of its key, and returns how many it added; with `remove`, deletes those it added before and
 * returns how many. One insert per day; triggers fire as for any insert (messages have none).
 */
export async function topUpMessages(sql: postgres.Sql, topUp: TopUp): Promise<number> {
  if (topUp.remove) {
    const removed =
      await sql`delete from public.messages where idempotency_key like 'bench-analytics:%'`;
    return removed.count;
  }
  const perDay = topUp.perDay ?? 0;
  const [{ cases }] = await sql`select count(*)::int as cases from public.renewal_cases`;
  if (cases === 0) throw new Error("the book has no cases to send messages about");
  await sql`
    create temporary table if not exists bench_cases as
    select row_number() over (order by c.id)::int as n, c.id, c.customer_id
      from public.renewal_cases c`;
  await sql`create index if not exists bench_cases_n on bench_cases (n)`;
  let added = 0;
  for (let back = 1; back <= topUp.days; back++) {
    const [day] = await sql`
      select (private.business_date(now()) - ${back}::int)::text as day,
             ((private.business_date(now()) - ${back}::int)::timestamp at time zone 'Asia/Kolkata')
               as starts`;
    const [{ have }] = await sql`
      select count(*)::int as have from public.messages
       where created_at >= ${day.starts} and created_at < ${day.starts}::timestamptz + interval '1 day'`;
    const missing = perDay - have;
    if (missing <= 0) continue;
    const inserted = await sql`
      insert into public.messages
        (customer_id, case_id, channel, purpose, body, status, blocked_reason, dead_reason,
         idempotency_key, provider, estimated_cost_paise, cost_paise, last_error_code, queued_at,
         sent_at, delivered_at, read_at, failed_at, created_at)
      select c.customer_id, c.id, g.channel, 'service', 'Your policy is due for renewal.',
             g.status,
             case when g.status = 'blocked' then (array['dnd', 'no_consent', 'suppressed'])[1 + g.h % 3] end,
             case when g.status = 'dead' then 'retries_exhausted' end,
             'bench-analytics:' || ${day.day} || ':' || g.i,
             case when g.status in ('blocked', 'queued', 'cancelled') then null
                  when g.channel = 'sms' then (array['twilio', 'twilio', 'aws_sns'])[1 + g.h % 3]
                  when g.channel = 'email' then (array['aws_ses', 'sendgrid'])[1 + g.h % 2]
                  else 'whatsapp_cloud' end,
             case g.channel when 'sms' then 25 when 'email' then 0.85 else 11.5 end,
             case when g.sent and g.h % 2 = 0
                  then case g.channel when 'sms' then 24.5 when 'email' then 0.8 else 11.5 end end,
             case g.status
               when 'failed' then (array['21211', '131047', 'timeout', '132000'])[1 + g.h % 4]
               when 'undeliverable' then (array['30005', 'Bounce.Permanent', '131026'])[1 + g.h % 3]
               when 'dead' then '20429'
             end,
             g.created_at,
             case when g.sent then g.created_at + make_interval(secs => 1 + g.h % 90) end,
             case when g.status in ('delivered', 'read')
                  then g.created_at + make_interval(secs => 3 + g.h % 90 + (g.h / 97) % 900) end,
             case when g.status = 'read'
                  then g.created_at + make_interval(secs => 600 + g.h % 3600) end,
             case when g.status in ('failed', 'undeliverable') then g.created_at + interval '2 minutes' end,
             g.created_at
        from (
          select i, h,
                 (array['whatsapp', 'whatsapp', 'sms', 'email'])[1 + h % 4]::public.channel_type
                   as channel,
                 s.status,
                 s.status in ('sent', 'delivered', 'read', 'failed', 'undeliverable', 'dead') as sent,
                 ${day.starts}::timestamptz + make_interval(secs => (h / 7) % 86400) as created_at
            from generate_series(1, ${missing}::int) as i
           cross join lateral (select abs(hashtext(${day.day} || ':' || i)) as h) x
           cross join lateral (
             select (case (h / 11) % 100
                       when 0 then 'queued' when 1 then 'queued'
                       when 2 then 'cancelled' when 3 then 'cancelled'
                       when 4 then 'dead'
                       else case when (h / 11) % 100 < 12 then 'blocked'
                                 when (h / 11) % 100 < 16 then 'failed'
                                 when (h / 11) % 100 < 19 then 'undeliverable'
                                 when (h / 11) % 100 < 27 then 'sent'
                                 when (h / 11) % 100 < 75 then 'delivered'
                                 else 'read' end
                     end)::public.message_status as status
           ) s
        ) g
        join bench_cases c on c.n = 1 + g.h % ${cases}::int
       where g.created_at < now()
      on conflict (idempotency_key) do nothing`;
    added += inserted.count;
  }
  return added;
}
