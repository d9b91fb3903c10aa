// The measures of the vendor and channel reports, read from the analytics facts through
// private.message_performance (which decides what the caller may see: everything for an admin,
// a manager's subtree's cases' messages): counts by outcome and status, cost and cost per
// delivered message and per renewal, latency percentiles overall and per provider, failure
// causes and codes, per template, a series; and the providers' circuit breakers, read as the
// caller. A message counts for the provider of its last attempt (messages.provider), its last
// error code for the provider that gave it (last_error_provider), and for the IST hour or day
// it was queued in (created_at). The per-vendor counts of
// GET /vendors/communications (outcomeColumns) still read the messages under RLS.
import { z } from "@hono/zod-openapi";
import type { Tx } from "../../_shared/db.ts";
import {
  DateTime,
  MessageChannel,
  messageStatuses,
  orNull,
  PaiseDecimal,
} from "../../_shared/domain.ts";
import { ProblemError } from "../../_shared/errors.ts";
import { type FactPeriod, FactPeriodSchema, inPeriod } from "./period.ts";

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
    description: "Sum of the gate's estimates, for messages with no reported price (none " +
      "for a WhatsApp message that failed: Meta bills a message when it is delivered)",
  }),
  actual_messages: z.number().int().openapi({ description: "Messages priced by the vendor" }),
  estimated_messages: z.number().int().openapi({
    description: "Messages accepted with no vendor-reported price (priced by estimate; a " +
      "WhatsApp message that failed is among them, at nothing)",
  }),
}).openapi("MessageCost");

/** Percentiles of one latency in seconds, over `messages` messages (from the facts' histograms). */
const LatencySchema = z.object({
  messages: z.number().int().openapi({ description: "Messages measured" }),
  p50_seconds: z.number().nullable().openapi({ description: "Median, seconds" }),
  p95_seconds: z.number().nullable().openapi({ description: "95th percentile, seconds" }),
  p99_seconds: z.number().nullable().openapi({ description: "99th percentile, seconds" }),
}).openapi("Latency");

/** Queue-to-sent and queue-to-delivered latency. */
const LatenciesSchema = z.object({
  queue_to_sent: LatencySchema,
  queue_to_delivered: LatencySchema,
}).openapi("Latencies", {
  description: "From queued_at to sent_at / delivered_at, as percentile_cont would give them, " +
    "read from histograms of about 9 % wide buckets (so within about 9 % of the exact value). A " +
    "message the gate deferred (quiet or promotional hours, scheduled) carries its wait.",
});

/** A circuit breaker state. */
const BreakerState = z.enum(["closed", "open", "half_open"]);

/** A provider's circuit breaker now, and its changes in the period. */
export const BreakerSchema = z.object({
  provider: z.string(),
  state: BreakerState,
  since: DateTime,
  consecutive_failures: z.number().int(),
  history: z.array(z.object({ breaker: BreakerState, at: DateTime }))
    .openapi({ description: "Each change of state in the period, oldest first" }),
}).openapi("Breaker");

/** Whose doing a failure was (private.failure_cause). */
export const FailureCause = z.enum(["customer", "provider", "us", "regulation"]).openapi(
  "FailureCause",
  {
    description: "customer: bad number or address, bounce, STOP, no consent, cancelled as no " +
      "longer needed; provider: outage, 5xx, timeout, throttling, open breaker; us: our " +
      "template, configuration, a stalled dispatcher; regulation: DND, DLT scrubbing, " +
      "WhatsApp's 24-hour window and policies, quiet hours",
  },
);

/** Cost per outcome, in paise as exact decimal strings rounded to 4 decimals. */
const unitCostFields = {
  renewals: z.number().int().openapi({
    description: "Renewals credited to these messages by last touch: each renewed case credits " +
      "the last of its messages sent before it closed",
  }),
  cost_per_delivered_paise: PaiseDecimal.nullable().openapi({
    description: "cost.total_paise / delivered (4 decimals); null when none was delivered",
  }),
  cost_per_renewal_paise: PaiseDecimal.nullable().openapi({
    description: "cost.total_paise / renewals (4 decimals); null without renewals",
  }),
};

/** Messages per status now, every status named. */
const ByStatusSchema = z.object(
  Object.fromEntries(messageStatuses.map((status) => [status, z.number().int()])) as Record<
    (typeof messageStatuses)[number],
    z.ZodNumber
  >,
).openapi("MessagesByStatus", { description: "Messages of the period by their status now" });

/** One provider's share of the messages. */
const ProviderPerformanceSchema = z.object({
  provider: z.string().nullable().openapi({
    description: "Vendor code; null for messages no provider was chosen for (blocked early)",
  }),
  counts: OutcomeCountsSchema,
  cost: CostSchema,
  ...unitCostFields,
  latency: LatenciesSchema,
}).openapi("ProviderPerformance");

/** One template's share of the messages. */
const TemplatePerformanceSchema = z.object({
  template_id: z.guid().nullable().openapi({ description: "null for free text" }),
  code: z.string().nullable(),
  channel: orNull(MessageChannel),
  language: z.string().nullable(),
  counts: OutcomeCountsSchema,
  cost: CostSchema,
  ...unitCostFields,
}).openapi("TemplatePerformance");

/** One bucket of the series. */
const SeriesPointSchema = z.object({
  start: DateTime.openapi({ description: "Start of the IST hour or day" }),
  messages: z.number().int(),
  sent: z.number().int(),
  delivered: z.number().int(),
  read: z.number().int(),
  failed: z.number().int(),
  undeliverable: z.number().int(),
  cost_paise: PaiseDecimal,
  renewals: z.number().int(),
  p50_delivered_seconds: z.number().nullable(),
  p95_delivered_seconds: z.number().nullable(),
}).openapi("PerformancePoint");

/** The measures of a vendor's or a channel's messages in a period. */
export const PerformanceSchema = z.object({
  period: FactPeriodSchema,
  facts_as_of: DateTime.nullable().openapi({
    description: "The moment the analytics facts describe (refreshed every 5 minutes); null " +
      "before their first refresh",
  }),
  counts: OutcomeCountsSchema,
  by_status: ByStatusSchema,
  latency: LatenciesSchema,
  failure_causes: z.array(z.object({
    cause: FailureCause,
    messages: z.number().int().openapi({
      description: "Messages that ended failed, undeliverable, dead, blocked or cancelled for it",
    }),
    codes: z.array(z.object({
      code: z.string().nullable().openapi({ description: "null when the status says it all" }),
      messages: z.number().int(),
    })).openapi({ description: "Their codes, most frequent first (at most 20)" }),
  })).openapi({ description: "The four causes, always in this order" }),
  failure_reasons: z.array(z.object({
    code: z.string().openapi({
      description: "The vendor's code of the last failed attempt (last_error_code), else the " +
        "gate's reason of a blocked message or a dead letter's",
    }),
    messages: z.number().int().openapi({ description: "Messages whose last error it is" }),
    final: z.number().int().openapi({
      description: "Of them, those that ended failed, undeliverable, dead or blocked",
    }),
    cause: FailureCause.nullable().openapi({
      description: "The cause most of its ended messages were put down to; null if none ended",
    }),
  })).openapi({
    description: "Most frequent first (at most 50). In a vendor's report, the codes that " +
      "vendor gave (last_error_provider), even for messages its fallback then carried; a " +
      "throttled or timed-out attempt counts though the message was delivered later (final 0)",
  }),
  cost: CostSchema,
  ...unitCostFields,
  providers: z.array(ProviderPerformanceSchema).openapi({
    description: "Per provider, most messages first",
  }),
  templates: z.array(TemplatePerformanceSchema).openapi({
    description: "Per template, most messages first",
  }),
  series: z.array(SeriesPointSchema).nullable().openapi({
    description: "One point per IST hour or day of the period, empty ones included; null for " +
      "a period of more than 90 days",
  }),
  breakers: z.array(BreakerSchema),
});

/** The measures, without the part that names the vendor or channel. */
export type Performance = z.infer<typeof PerformanceSchema>;

/** The 403 of the reports for anyone but managers and admins, with `detail` as its detail. */
export async function requireManagerOrAdmin(
  tx: Tx,
  detail = "Only managers and admins read the vendor reports.",
): Promise<void> {
  const [caller] = await tx<{ role: string | null }[]>`
    select private.current_app_role()::text as role`;
  if (caller.role !== "admin" && caller.role !== "manager") {
    throw new ProblemError(403, "Forbidden", detail);
  }
}

/**
 * SQL: the outcome counts and cost of the messages aliased `m` (an aggregate's columns). A
 * message costs from its send, except a WhatsApp message that failed, which costs only what
 * Meta reported (Meta bills a message when it is delivered).
 */
export const outcomeColumns = (tx: Tx) => {
  const billed = tx`m.sent_at is not null
    and not (m.channel = 'whatsapp' and m.cost_paise is null
             and m.status in ('failed', 'undeliverable'))`;
  return tx`
  count(m.id)::int as messages,
  count(m.sent_at)::int as sent,
  count(m.delivered_at)::int as delivered,
  count(m.read_at)::int as read,
  (count(*) filter (where m.status = 'failed'))::int as failed,
  (count(*) filter (where m.status = 'undeliverable'))::int as undeliverable,
  count(m.unconfirmed_at)::int as unconfirmed,
  json_build_object(
    'total_paise', pg_catalog.trim_scale(coalesce(sum(coalesce(m.cost_paise, m.estimated_cost_paise))
                     filter (where ${billed}), 0))::text,
    'actual_paise', pg_catalog.trim_scale(coalesce(sum(m.cost_paise)
                     filter (where m.sent_at is not null), 0))::text,
    'estimated_paise', pg_catalog.trim_scale(coalesce(sum(m.estimated_cost_paise)
                     filter (where ${billed} and m.cost_paise is null), 0))::text,
    'actual_messages', count(*) filter (where m.sent_at is not null and m.cost_paise is not null),
    'estimated_messages', count(*) filter (where m.sent_at is not null and m.cost_paise is null)
  ) as cost`;
};

/** Which messages a report covers: a channel's type, a provider, or both. */
export interface PerformanceScope {
  channel?: string;
  provider?: string;
}

/**
 * The measures of the messages of `scope` queued in `period`, read from the analytics facts by
 * private.message_performance (which counts, for a manager, only their subtree's cases'
 * messages), with the breakers of `providers` read as the caller.
 */
export async function measurePerformance(
  tx: Tx,
  scope: PerformanceScope,
  period: FactPeriod,
  providers: string[],
): Promise<Performance> {
  const [{ figures }] = await tx<
    { figures: Omit<Performance, "period" | "breakers" | "series"> & { series: unknown } }[]
  >`
    select private.message_performance(
             ${scope.channel ?? null}::text, ${scope.provider ?? null}::text,
             ${period.from}::text::timestamptz, ${period.to}::text::timestamptz,
             ${period.granularity}::text) as figures`;
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
  return {
    period: { from: period.from, to: period.to, granularity: period.granularity },
    ...figures,
    series: period.series ? figures.series as Performance["series"] : null,
    breakers: [...breakers],
  };
}
