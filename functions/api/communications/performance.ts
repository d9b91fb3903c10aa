// The measures of the vendor and channel reports, over the messages the caller may see (each
// query runs in the caller's transaction, so RLS chooses the messages): counts by outcome, cost,
// queue-to-sent and queue-to-delivered latency, failure reasons, and the providers' circuit
// breakers. A message counts for the provider of its last attempt (messages.provider) and for
// the period it was queued in (created_at).
import { z } from "@hono/zod-openapi";
import type { Tx } from "../../_shared/db.ts";
import { DateTime, PaiseDecimal } from "../../_shared/domain.ts";
import { ProblemError } from "../../_shared/errors.ts";
import { inPeriod, type Period, PeriodSchema } from "./period.ts";

/** How many messages reached each outcome. */
export const OutcomeCountsSchema = z.object({
  messages: z.number().int().openapi({ description: "Messages queued in the period" }),
  sent: z.number().int().openapi({ description: "Accepted by the vendor (sent_at set)" }),
  delivered: z.number().int().openapi({ description: "Reported delivered (read ones too)" }),
  read: z.number().int().openapi({ description: "Reported read (WhatsApp)" }),
  failed: z.number().int().openapi({ description: "Now failed" }),
  undeliverable: z.number().int().openapi({ description: "Now undeliverable" }),
  unconfirmed: z.number().int().openapi({
    description: "Accepted but neither delivered nor failed within MESSAGE_UNCONFIRMED_HOURS",
  }),
});

/**
 * The cost of the messages the vendor accepted, in paise as exact decimal strings: `actual` is
 * what the vendor reported (WhatsApp pricing, Twilio price), `estimated` the gate's estimate for
 * the messages it has not reported a price for; `total` is both.
 */
export const CostSchema = z.object({
  total_paise: PaiseDecimal,
  actual_paise: PaiseDecimal.openapi({ description: "Sum of vendor-reported prices" }),
  estimated_paise: PaiseDecimal.openapi({
    description: "Sum of the gate's estimates, for messages with no reported price",
  }),
  actual_messages: z.number().int().openapi({ description: "Messages priced by the vendor" }),
  estimated_messages: z.number().int().openapi({ description: "Messages priced by estimate" }),
}).openapi("MessageCost");

/** Percentiles of one latency in seconds (percentile_cont), over `messages` messages. */
const LatencySchema = z.object({
  messages: z.number().int().openapi({ description: "Messages measured" }),
  p50_seconds: z.number().nullable().openapi({ description: "Median, seconds" }),
  p95_seconds: z.number().nullable().openapi({ description: "95th percentile, seconds" }),
}).openapi("Latency");

/** A provider's circuit breaker now, and its changes in the period. */
export const BreakerSchema = z.object({
  provider: z.string(),
  state: z.enum(["closed", "open", "half_open"]),
  since: DateTime,
  consecutive_failures: z.number().int(),
  history: z.array(z.object({ breaker: z.enum(["closed", "open", "half_open"]), at: DateTime }))
    .openapi({ description: "Each change of state in the period, oldest first" }),
}).openapi("Breaker");

/** The measures of a vendor's or a channel's messages in a period. */
export const PerformanceSchema = z.object({
  period: PeriodSchema,
  counts: OutcomeCountsSchema,
  latency: z.object({
    queue_to_sent: LatencySchema,
    queue_to_delivered: LatencySchema,
  }).openapi({
    description: "From queued_at to sent_at / delivered_at. A message the gate deferred " +
      "(quiet or promotional hours, scheduled) carries its wait.",
  }),
  failure_reasons: z.array(z.object({
    code: z.string().openapi({ description: "The vendor's code (last_error_code)" }),
    messages: z.number().int().openapi({ description: "Messages whose last error it is" }),
    final: z.number().int().openapi({
      description: "Of them, those that ended failed, undeliverable or dead",
    }),
  })).openapi({ description: "Most frequent first (at most 50)" }),
  cost: CostSchema,
  breakers: z.array(BreakerSchema),
});

/** The measures, without the part that names the vendor or channel. */
export type Performance = z.infer<typeof PerformanceSchema>;

/** The 403 of the reports for anyone but managers and admins. */
export async function requireManagerOrAdmin(tx: Tx): Promise<void> {
  const [caller] = await tx<{ role: string | null }[]>`
    select private.current_app_role()::text as role`;
  if (caller.role !== "admin" && caller.role !== "manager") {
    throw new ProblemError(403, "Forbidden", "Only managers and admins read the vendor reports.");
  }
}

/** SQL: the outcome counts and cost of the messages aliased `m` (an aggregate's columns). */
export const outcomeColumns = (tx: Tx) =>
  tx`
  count(m.id)::int as messages,
  count(m.sent_at)::int as sent,
  count(m.delivered_at)::int as delivered,
  count(m.read_at)::int as read,
  (count(*) filter (where m.status = 'failed'))::int as failed,
  (count(*) filter (where m.status = 'undeliverable'))::int as undeliverable,
  count(m.unconfirmed_at)::int as unconfirmed,
  json_build_object(
    'total_paise', pg_catalog.trim_scale(coalesce(sum(coalesce(m.cost_paise, m.estimated_cost_paise))
                     filter (where m.sent_at is not null), 0))::text,
    'actual_paise', pg_catalog.trim_scale(coalesce(sum(m.cost_paise)
                     filter (where m.sent_at is not null), 0))::text,
    'estimated_paise', pg_catalog.trim_scale(coalesce(sum(m.estimated_cost_paise)
                     filter (where m.sent_at is not null and m.cost_paise is null), 0))::text,
    'actual_messages', count(*) filter (where m.sent_at is not null and m.cost_paise is not null),
    'estimated_messages', count(*) filter (where m.sent_at is not null and m.cost_paise is null)
  ) as cost`;

/** Rounds seconds to the millisecond (the percentiles are double precision). */
const seconds = (tx: Tx, value: ReturnType<Tx>) => tx`round((${value})::numeric, 3)::float8`;

/**
 * The measures of the messages matching `scope` (SQL over alias `m`, e.g. `m.provider = ...`)
 * queued in `period`, with the breakers of `providers`.
 */
export async function measurePerformance(
  tx: Tx,
  scope: ReturnType<Tx>,
  period: Period,
  providers: string[],
): Promise<Performance> {
  const sentLatency = tx`extract(epoch from m.sent_at - m.queued_at)::float8`;
  const deliveredLatency = tx`extract(epoch from m.delivered_at - m.queued_at)::float8`;
  const [measures] = await tx<
    (z.infer<typeof OutcomeCountsSchema> & {
      cost: Performance["cost"];
      latency: Performance["latency"];
    })[]
  >`
    select ${outcomeColumns(tx)},
           json_build_object(
             'queue_to_sent', json_build_object(
               'messages', count(m.sent_at),
               'p50_seconds', ${
    seconds(tx, tx`percentile_cont(0.5) within group (order by ${sentLatency})`)
  },
               'p95_seconds', ${
    seconds(tx, tx`percentile_cont(0.95) within group (order by ${sentLatency})`)
  }),
             'queue_to_delivered', json_build_object(
               'messages', count(m.delivered_at),
               'p50_seconds', ${
    seconds(tx, tx`percentile_cont(0.5) within group (order by ${deliveredLatency})`)
  },
               'p95_seconds', ${
    seconds(tx, tx`percentile_cont(0.95) within group (order by ${deliveredLatency})`)
  })) as latency
      from public.messages m
     where ${scope} ${inPeriod(tx, "m", "created_at", period)}`;
  const failures = await tx<Performance["failure_reasons"]>`
    select m.last_error_code as code, count(*)::int as messages,
           (count(*) filter (where m.status in ('failed', 'undeliverable', 'dead')))::int as final
      from public.messages m
     where ${scope} ${inPeriod(tx, "m", "created_at", period)}
       and m.last_error_code is not null
     group by m.last_error_code
     order by count(*) desc, m.last_error_code
     limit 50`;
  const breakers = await tx<Performance["breakers"]>`
    select ps.provider, ps.breaker as state, ps.breaker_since as since, ps.consecutive_failures,
           coalesce((
             select json_agg(json_build_object('breaker', e.breaker, 'at', e.at)
                             order by e.at, e.id)
               from public.provider_breaker_events e
              where e.provider = ps.provider ${inPeriod(tx, "e", "at", period)}), '[]') as history
      from public.provider_state ps
     where ps.provider = any(${providers}::text[])
     order by array_position(${providers}::text[], ps.provider)`;
  const { latency, cost, ...counts } = measures;
  return {
    period: { from: period.from!, to: period.to! },
    counts,
    latency,
    failure_reasons: [...failures],
    cost,
    breakers: [...breakers],
  };
}
