// The reporting period of the communications routes (delivery status, vendor and channel
// reports): `from` and `to`, each a business day (IST) or an instant, turned into a half-open
// range of instants [from, to) by the database, in its business time zone.
import { z } from "@hono/zod-openapi";
import type { Tx } from "../../_shared/db.ts";
import { PeriodBound } from "../../_shared/domain.ts";
import { ProblemError } from "../../_shared/errors.ts";

/** The longest period a report covers, in days. */
export const maxPeriodDays = 366;

const dayPattern = /^\d{4}-\d{2}-\d{2}$/;

const fromText = "Start of the period, inclusive: a business day `YYYY-MM-DD` (from 00:00 IST) " +
  "or an ISO 8601 instant with its offset. Messages are placed by when they were queued " +
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

/** The query of a report's period (vendor and channel reports). */
export const ReportPeriodQuery = z.object(reportPeriodFields);

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

const periodProblem = (message: string) =>
  new ProblemError(422, "Unprocessable Content", `The period is not valid: ${message}.`, {
    errors: [{ path: "from", code: "invalid_period", message }],
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
