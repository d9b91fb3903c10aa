// The keyset cursor of GET /reports: the (period_start, kind) of a page's last row, unique in
// public.reports, in the list's order (period_start desc, kind).
import { z } from "@hono/zod-openapi";
import { ProblemError } from "../../_shared/errors.ts";
import { reportKinds } from "./routes.ts";

/** The decoded cursor: the last row's period_start (YYYY-MM-DD) and kind. */
export type ReportCursor = [periodStart: string, kind: typeof reportKinds[number]];

const Cursor = z.tuple([z.iso.date(), z.enum(reportKinds)]);

/** The opaque cursor (base64url of the JSON pair) after the report with this key. */
export function encodeReportCursor(periodStart: string, kind: string): string {
  return btoa(JSON.stringify([periodStart, kind])).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** The key inside a cursor this API issued; a 422 problem naming `cursor` for anything else. */
export function decodeReportCursor(cursor: string): ReportCursor {
  try {
    const base64 = cursor.replaceAll("-", "+").replaceAll("_", "/");
    return Cursor.parse(JSON.parse(atob(base64))) as ReportCursor;
  } catch {
    throw new ProblemError(422, "Unprocessable Content", "The cursor is not one this API issued.", {
      errors: [{
        path: "cursor",
        code: "invalid_cursor",
        message: "not a cursor from next_cursor",
      }],
    });
  }
}
