// The reporting periods of the communications routes (delivery status, vendor and channel
// reports) and of the performance reports read from the analytics facts: `from` and `to`, each a
// business day (IST) or an instant, turned into a half-open range of instants [from, to) by the
// database, in its business time zone; the facts' periods are whole IST hours or days, and a
// node's performance a range of business days.
import { z } from "@hono/zod-openapi";
import type { Tx } from "../../_shared/db.ts";
import { IsoDate, PeriodBound, PeriodDay, periodYears } from "../../_shared/domain.ts";
import { ProblemError } from "../../_shared/errors.ts";

/** The longest period a report covers, in days. */
export const maxPeriodDays = 366;

const dayPattern = /^\d{4}-\d{2}-\d{2}$/;

const fromText = "Start of the period, inclusive: a business day `YYYY-MM-DD` (from 00:00 IST) " +
  "or an ISO 8601 instant with its offset, in the years " +
  `${periodYears.min} to ${periodYears.max}. Messages are placed by when they were queued ` +
  "(created_at).";
const toText = "End of the period: a business day `YYYY-MM-DD` counts whole (up to 00:00 IST " +
  "the next day); an instant is exclusive.";

/** How many days a report covers when its query names no `from`. */
export const reportDefaultDays = 30;

/** `from` and `to` of a list: a missing end leaves the period open on that side. */
export const periodFields = {
  from: PeriodBound.optional().openapi({ description: `${fromText} Default: no start.` }),
  to: PeriodBound.optional().openapi({ description: `${toText} Default: no end.` }),
};

/** `from` and `to` of a report: by default the last reportDefaultDays days up to now. */
export const reportPeriodFields = {
  from: PeriodBound.optional().openapi({
    description: `${fromText} Default: ${reportDefaultDays} days before \`to\`.`,
  }),
  to: PeriodBound.optional().openapi({ description: `${toText} Default: now.` }),
};

/** The query of a report's period (GET /vendors/communications); strict: an unknown parameter
 * is a 422 naming it, not left out. */
export const ReportPeriodQuery = z.strictObject(reportPeriodFields);

/** A period as asked: either end may be missing. */
export interface PeriodAsked {
  from?: string;
  to?: string;
}

/** A period as the database resolved it: instants as UTC text to the microsecond. */
export interface Period {
  from: string | null;
  to: string | null;
}

/** SQL: the business time zone (the BUSINESS_TIME_ZONE setting, Asia/Kolkata by default). */
const businessZone = (tx: Tx) =>
  tx`coalesce(private.setting('BUSINESS_TIME_ZONE') #>> '{}', 'Asia/Kolkata')`;

/** SQL: the instant one end stands for; a day starts (from) or ends (to) in the business zone. */
function boundSql(tx: Tx, value: string, end: "from" | "to") {
  // Parameters go as text first: postgres.js would send a timestamptz one as a Date, to the ms.
  if (dayPattern.test(value)) {
    const day = end === "from" ? tx`${value}::text::date` : tx`(${value}::text::date + 1)`;
    return tx`(${day}::timestamp at time zone ${businessZone(tx)})`;
  }
  return tx`${value}::text::timestamptz`;
}

const utcText = (tx: Tx, instant: ReturnType<Tx>) =>
  tx`to_char(${instant} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const periodProblem = (message: string, path = "from") =>
  new ProblemError(422, "Unprocessable Content", `The period is not valid: ${message}.`, {
    errors: [{ path, code: "invalid_period", message }],
  });

/**
 * The period as instants, resolved by the database. With `defaultDays`, a missing `to` is now
 * and a missing `from` that many days before `to` (reports); without, a missing end stays open
 * (lists). A 422 problem when `from` is not before `to`, or a report spans more than
 * maxPeriodDays.
 */
export async function resolvePeriod(
  tx: Tx,
  asked: PeriodAsked,
  defaultDays?: number,
): Promise<Period> {
  const reporting = defaultDays !== undefined;
  const to = asked.to ? boundSql(tx, asked.to, "to") : reporting ? tx`now()` : tx`null`;
  const from = asked.from
    ? boundSql(tx, asked.from, "from")
    : reporting
    ? tx`(${to} - make_interval(days => ${defaultDays}))`
    : tx`null::timestamptz`;
  const [period] = await tx<
    { from: string | null; to: string | null; ordered: boolean | null; days: number | null }[]
  >`
    with bounds as (select ${from}::timestamptz as f, ${to}::timestamptz as t)
    select ${utcText(tx, tx`f`)} as from, ${utcText(tx, tx`t`)} as to, f < t as ordered,
           extract(epoch from t - f)::float8 / 86400 as days
      from bounds`;
  if (period.ordered === false) throw periodProblem("from must come before to");
  if (reporting && (period.days ?? 0) > maxPeriodDays) {
    throw periodProblem(`a report covers at most ${maxPeriodDays} days`);
  }
  return { from: period.from, to: period.to };
}

/** SQL: `and` the rows of `alias` whose `column` lies in the period (open ends unbounded). */
export function inPeriod(tx: Tx, alias: string, column: string, period: Period) {
  const value = tx`${tx(alias)}.${tx(column)}`;
  return tx`
    ${period.from ? tx`and ${value} >= ${period.from}::text::timestamptz` : tx``}
    ${period.to ? tx`and ${value} < ${period.to}::text::timestamptz` : tx``}`;
}

/** The resolved period as a report answers it. */
export const PeriodSchema = z.object({
  from: z.string().openapi({ format: "date-time", description: "Start, inclusive" }),
  to: z.string().openapi({ format: "date-time", description: "End, exclusive" }),
});

// Periods of the reports read from the analytics facts ---------------------------------------
// The facts are buckets of IST hours (kept for the last 8 days) and IST days (kept for ever), so
// such a period is made of whole buckets: business days for a daily report, whole IST hours
// inside the last 7 days for an hourly one.

/** The grain of a report read from the facts. */
export const Granularity = z.enum(["hour", "day"]).openapi("Granularity");

/** The longest daily series, in days, and the longest hourly one, in days. */
export const maxDailySeriesDays = 90;
export const maxHourlyDays = 7;

/** The query of a report read from the message facts (vendor and channel reports); strict, as
 * ReportPeriodQuery. */
export const FactPeriodQuery = z.strictObject({
  from: PeriodBound.optional().openapi({
    description: "Start of the period, inclusive: a business day `YYYY-MM-DD` (from 00:00 IST) " +
      "or an instant with its offset on a whole IST day (daily) or hour (hourly, e.g. " +
      "`2026-12-01T09:00:00+05:30`). Messages are placed by when they were queued. Default: " +
      `${reportDefaultDays} days before \`to\` (daily), ${maxHourlyDays} days before it (hourly).`,
  }),
  to: PeriodBound.optional().openapi({
    description: "End of the period: a business day counts whole (up to 00:00 IST the next " +
      "day); an instant is exclusive. Default: the end of today (daily) or of the current " +
      "hour (hourly), IST.",
  }),
  granularity: Granularity.optional().openapi({
    description: `hour: whole IST hours within the last ${maxHourlyDays} days, with an hourly ` +
      `series; day: business days, at most ${maxDailySeriesDays}, with a daily series. Left ` +
      "out: hour when an end falls inside a day, else day (then a period of more than " +
      `${maxDailySeriesDays} days, up to ${maxPeriodDays}, answers its totals with no series).`,
  }),
});

/** A period of the facts as asked. */
export interface FactPeriodAsked extends PeriodAsked {
  granularity?: z.infer<typeof Granularity>;
}

/** A period of the facts as resolved: whole buckets, and whether a series fits in it. */
export interface FactPeriod {
  from: string;
  to: string;
  granularity: z.infer<typeof Granularity>;
  series: boolean;
}

/** A period of the facts as a report answers it. */
export const FactPeriodSchema = PeriodSchema.extend({
  granularity: Granularity.openapi({ description: "The buckets the figures are read from" }),
}).openapi("FactPeriod");

/**
 * The period of a report on the message facts, resolved by the database in its business time
 * zone: defaults as FactPeriodQuery says, the granularity chosen when not asked. A 422 problem
 * (code invalid_period) when `from` is not before `to`, the period is longer than
 * maxPeriodDays, it does not start and end on whole buckets of its granularity, an hourly one
 * starts more than maxHourlyDays days ago or lasts longer, or an asked daily one is longer than
 * maxDailySeriesDays days.
 */
export async function resolveFactPeriod(tx: Tx, asked: FactPeriodAsked): Promise<FactPeriod> {
  const zone = businessZone(tx);
  const hourStart = tx`(date_trunc('hour', now() at time zone ${zone}) at time zone ${zone})`;
  const hourly = asked.granularity === "hour";
  const to = asked.to
    ? boundSql(tx, asked.to, "to")
    : hourly
    ? tx`(${hourStart} + interval '1 hour')`
    : tx`((private.business_date(now()) + 1)::timestamp at time zone ${zone})`;
  const from = asked.from
    ? boundSql(tx, asked.from, "from")
    : tx`(${to} - make_interval(days => ${hourly ? maxHourlyDays : reportDefaultDays}))`;
  const [period] = await tx<
    {
      from: string;
      to: string;
      ordered: boolean;
      days: number;
      on_days: boolean;
      on_hours: boolean;
      recent: boolean;
    }[]
  >`
    with bounds as (select ${from}::timestamptz as f, ${to}::timestamptz as t)
    select ${utcText(tx, tx`f`)} as from, ${utcText(tx, tx`t`)} as to, f < t as ordered,
           extract(epoch from t - f)::float8 / 86400 as days,
           date_trunc('day', f at time zone ${zone}) at time zone ${zone} = f
             and date_trunc('day', t at time zone ${zone}) at time zone ${zone} = t as on_days,
           date_trunc('hour', f at time zone ${zone}) at time zone ${zone} = f
             and date_trunc('hour', t at time zone ${zone}) at time zone ${zone} = t as on_hours,
           f >= ${hourStart} - make_interval(days => ${maxHourlyDays}) as recent
      from bounds`;
  if (!period.ordered) throw periodProblem("from must come before to");
  if (period.days > maxPeriodDays) {
    throw periodProblem(`a report covers at most ${maxPeriodDays} days`);
  }
  const granularity = asked.granularity ?? (period.on_days ? "day" : "hour");
  if (granularity === "day" && !period.on_days) {
    throw periodProblem(
      "a daily report runs from 00:00 to 00:00 IST: give business days (YYYY-MM-DD), or ask " +
        "granularity=hour",
      "granularity",
    );
  }
  if (granularity === "hour") {
    if (!period.on_hours) {
      throw periodProblem(
        "an hourly report runs on whole IST hours (e.g. 2026-12-01T09:00:00+05:30)",
        "granularity",
      );
    }
    if (!period.recent || period.days > maxHourlyDays + 1 / 24) {
      throw periodProblem(
        `hourly figures cover the last ${maxHourlyDays} days only: ask granularity=day`,
        "granularity",
      );
    }
  }
  if (asked.granularity === "day" && period.days > maxDailySeriesDays) {
    throw periodProblem(
      `a daily series covers at most ${maxDailySeriesDays} days: leave granularity out for ` +
        "the totals of a longer period",
      "granularity",
    );
  }
  return {
    from: period.from,
    to: period.to,
    granularity,
    series: granularity === "hour" || period.days <= maxDailySeriesDays,
  };
}

// Periods of business days (the hierarchy's performance) ------------------------------------

/** How many business days a node's performance covers when its query names no `from`. */
export const nodeDefaultDays = 30;

/** The query of a node's performance: business days, `to` included. */
export const DayPeriodQuery = z.object({
  from: PeriodDay.optional().openapi({
    description:
      `First business day (IST), inclusive, in the years ${periodYears.min} to ${periodYears.max}. ` +
      "Default: " +
      `${nodeDefaultDays - 1} days before \`to\` (${nodeDefaultDays} days in all).`,
  }),
  to: PeriodDay.optional().openapi({
    description:
      `Last business day (IST), inclusive, in the years ${periodYears.min} to ${periodYears.max}. ` +
      "Default: today.",
  }),
});

/** A period of whole business days, both ends included, `YYYY-MM-DD`. */
export interface DayPeriod {
  from: string;
  to: string;
}

/** A period of business days as a report answers it. */
export const DayPeriodSchema = z.object({
  from: IsoDate.openapi({ description: "First business day, inclusive" }),
  to: IsoDate.openapi({ description: "Last business day, inclusive" }),
}).openapi("DayPeriod");

/**
 * The business days of a node's performance: a missing `to` is today (IST), a missing `from`
 * nodeDefaultDays - 1 days before `to`. A 422 problem (invalid_period) when `from` is after
 * `to` or the period is longer than maxPeriodDays days.
 */
export async function resolveDayPeriod(
  tx: Tx,
  asked: { from?: string; to?: string },
): Promise<DayPeriod> {
  const to = asked.to ? tx`${asked.to}::text::date` : tx`private.business_date(now())`;
  const from = asked.from
    ? tx`${asked.from}::text::date`
    : tx`(${to} - ${nodeDefaultDays - 1}::int)`;
  const [period] = await tx<{ from: string; to: string; days: number }[]>`
    with bounds as (select ${from}::date as f, ${to}::date as t)
    select f::text as from, t::text as to, t - f + 1 as days from bounds`;
  if (period.days < 1) throw periodProblem("from must not be after to");
  if (period.days > maxPeriodDays) {
    throw periodProblem(`a report covers at most ${maxPeriodDays} days`);
  }
  return { from: period.from, to: period.to };
}
