// Handlers of /api/reports, run as the caller: admins only (a 403 for every other role, said
// before anything is read), and RLS on public.reports agrees (admins read, nobody writes). The
// reports themselves, figures, HTML and CSV, are made by the database
// (private.generate_report); the API only serves them.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, type Tx } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import { decodeReportCursor, encodeReportCursor } from "./cursor.ts";
import type {
  getReport,
  getReportCsv,
  listReports,
  ReportSchema,
  ReportSummarySchema,
} from "./routes.ts";

type ReportSummary = z.infer<typeof ReportSummarySchema>;
type Report = z.infer<typeof ReportSchema>;

/** 403 unless the caller is an active admin. */
async function requireAdmin(tx: Tx): Promise<void> {
  const [caller] = await tx<{ admin: boolean }[]>`select private.is_admin() as admin`;
  if (!caller.admin) throw new ProblemError(403, "Forbidden", "Only admins read the reports.");
}

const summaryColumns = (tx: Tx) =>
  tx`r.id, r.kind, r.period_start::text as period_start, r.period_end::text as period_end,
     r.generated_at, r.as_of`;

/** GET /reports: newest period first, then daily, weekly, monthly; keyset paged. */
export const list: RouteHandler<typeof listReports, AppEnv> = async (c) => {
  const { kind, limit, cursor } = c.req.valid("query");
  const after = cursor ? decodeReportCursor(cursor) : undefined;
  const rows = await asCaller(c.get("claims"), async (tx) => {
    await requireAdmin(tx);
    return await tx<ReportSummary[]>`
      select ${summaryColumns(tx)}
        from public.reports r
       where (${kind ?? null}::text is null or r.kind = ${kind ?? null})
         ${
      after
        ? tx`and (r.period_start < ${after[0]}::date
                  or (r.period_start = ${after[0]}::date and r.kind > ${after[1]}))`
        : tx``
    }
       order by r.period_start desc, r.kind
       limit ${limit + 1}`;
  });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return c.json({
    data: page.map(serialize),
    next_cursor: rows.length > limit && last
      ? encodeReportCursor(last.period_start, last.kind)
      : null,
  }, 200);
};

/** GET /reports/{id}: the report and its figures; 404 when there is no such report. */
export const get: RouteHandler<typeof getReport, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const report = await asCaller(c.get("claims"), async (tx) => {
    await requireAdmin(tx);
    const [row] = await tx<Report[]>`
      select ${summaryColumns(tx)}, r.figures from public.reports r where r.id = ${id}`;
    return row;
  });
  if (!report) throw notFound("report");
  return c.json({ ...serialize(report), figures: report.figures }, 200);
};

/** GET /reports/{id}/csv: the stored CSV as an attachment named for the report's period. */
export const csv: RouteHandler<typeof getReportCsv, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const report = await asCaller(c.get("claims"), async (tx) => {
    await requireAdmin(tx);
    const [row] = await tx<{ kind: string; period_start: string; csv: string }[]>`
      select r.kind, r.period_start::text as period_start, r.csv
        from public.reports r where r.id = ${id}`;
    return row;
  });
  if (!report) throw notFound("report");
  // kind and period_start are a check-constrained enum and a date: safe in a header as they are.
  const filename = `report-${report.kind}-${report.period_start}.csv`;
  return c.body(report.csv, 200, {
    "content-type": "text/csv; charset=utf-8; header=present",
    "content-disposition": `attachment; filename="${filename}"`,
  });
};

/** A row's instants as ISO 8601 UTC text (postgres.js hands timestamptz over as Date). */
function serialize<T extends ReportSummary>(row: T): ReportSummary {
  return {
    id: row.id,
    kind: row.kind,
    period_start: row.period_start,
    period_end: row.period_end,
    generated_at: new Date(row.generated_at).toISOString(),
    as_of: new Date(row.as_of).toISOString(),
  };
}
