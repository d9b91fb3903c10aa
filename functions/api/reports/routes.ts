// /api/reports: the scheduled operations reports pg_cron writes into public.reports (daily:
// health, errors, quota, cost; weekly: the trends against the week before; monthly: the cost
// report and each vendor's SLA review). Admins only: the list, one report's figures, its CSV.
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, IsoDate } from "../../_shared/domain.ts";
import { commonProblems, json, problem, signedIn, uuidParam } from "../../_shared/schemas.ts";

/** The kinds of report, as public.reports.kind holds them. */
export const reportKinds = ["daily", "weekly", "monthly"] as const;

/** A report's kind: daily (yesterday, IST), weekly (Monday to Sunday), monthly (a month). */
export const ReportKind = z.enum(reportKinds).openapi("ReportKind", {
  description: "daily: one IST business day; weekly: Monday to Sunday; monthly: a calendar month",
});

/** A report as the list shows it: what it covers and when it was made, without its figures. */
export const ReportSummarySchema = z.object({
  id: z.guid(),
  kind: ReportKind,
  period_start: IsoDate.openapi({ description: "First IST business day covered" }),
  period_end: IsoDate.openapi({ description: "Last IST business day covered (inclusive)" }),
  generated_at: DateTime.openapi({ description: "When the report was (last) generated" }),
  as_of: DateTime.openapi({ description: "The clock the report was generated for" }),
}).openapi("ReportSummary");

/** A report with its figures: the numbers, structured by section. */
export const ReportSchema = ReportSummarySchema.extend({
  figures: z.record(z.string(), z.unknown()).openapi({
    description: "The report's numbers by section (see the README's Reports section). Counts " +
      "are integers, money is paise (message costs exact decimals, which may hold fractions " +
      "of a paisa), rates are fractions 0..1, latencies seconds; null where nothing was measured.",
  }),
}).openapi("Report");

/** The filters and keyset cursor of GET /reports. */
export const ReportQuery = z.object({
  kind: ReportKind.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional().openapi({
    description: "`next_cursor` of the previous page (of a list with the same kind filter)",
  }),
});

const reportIdParams = z.object({ id: uuidParam("id", "Report id") });

const adminsOnly = problem("Only admins read the reports");

/** GET /reports. */
export const listReports = createRoute({
  operationId: "listReports",
  method: "get",
  path: "/reports",
  tags: ["Reports"],
  summary: "The scheduled reports, latest period first",
  description: "Daily, weekly and monthly operations reports, newest period first (then " +
    "daily, weekly, monthly). Admins only.",
  ...signedIn,
  request: { query: ReportQuery },
  responses: {
    200: json(
      "A page of reports",
      z.object({ data: z.array(ReportSummarySchema), next_cursor: z.string().nullable() }),
    ),
    ...commonProblems,
    403: adminsOnly,
  },
});

/** GET /reports/{id}. */
export const getReport = createRoute({
  operationId: "getReport",
  method: "get",
  path: "/reports/{id}",
  tags: ["Reports"],
  summary: "One report with its figures",
  description: "Admins only.",
  ...signedIn,
  request: { params: reportIdParams },
  responses: {
    200: json("The report", ReportSchema),
    ...commonProblems,
    403: adminsOnly,
    404: problem("No such report"),
  },
});

/** GET /reports/{id}/csv. */
export const getReportCsv = createRoute({
  operationId: "getReportCsv",
  method: "get",
  path: "/reports/{id}/csv",
  tags: ["Reports"],
  summary: "One report as a CSV download",
  description: "RFC 4180 CSV (CRLF line ends, UTF-8), one figure a line: " +
    "`section,item,measure,value`. Text from the data that a spreadsheet would run as a " +
    "formula (starting with =, +, -, @, a tab or a carriage return) is prefixed with an " +
    "apostrophe; numbers are plain. Sent as an attachment. Admins only.",
  ...signedIn,
  request: { params: reportIdParams },
  responses: {
    200: {
      description: "The report's figures as CSV",
      content: { "text/csv": { schema: z.string() } },
    },
    ...commonProblems,
    403: adminsOnly,
    404: problem("No such report"),
  },
});
