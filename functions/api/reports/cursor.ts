// The keyset cursor of GET /reports: the (period_start, kind) of a page's last row, unique in
// public.reports, in the list's order (period_start desc, kind).
import { z } from "@hono/zod-openapi";
import { decodeCursor, encodeCursor } from "../../_shared/cursor.ts";
import { reportKinds } from "./routes.ts";

/** The decoded cursor: the last row's period_start (YYYY-MM-DD) and kind. */
export type ReportCursor = [periodStart: string, kind: typeof reportKinds[number]];

const Cursor = z.tuple([z.iso.date(), z.enum(reportKinds)]);

/** The opaque cursor after the report with this key. */
export function encodeReportCursor(periodStart: string, kind: string): string {
  return encodeCursor([periodStart, kind]);
}

/** The key inside a cursor this API issued; a 422 problem naming `cursor` for anything else. */
export function decodeReportCursor(cursor: string): ReportCursor {
  return decodeCursor(cursor, Cursor) as ReportCursor;
}
