// Handlers of /api/policies. The timeline is made by the database (private.policy_timeline, a
// security definer function that first checks the caller sees the policy, since the audit log,
// AI calls and webhooks are not theirs to read under RLS); the policy's number is read as the
// caller, under RLS, so a policy they do not see is a 404 before the function runs.
import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import { notFound } from "../../_shared/errors.ts";
import { timelineCsv, timelineFileName } from "./csv.ts";
import { type getPolicyTimeline, type PolicyTimeline, timelineMaxEntries } from "./routes.ts";

/** A row of private.policy_timeline. */
interface TimelineRow {
  at: Date;
  kind: string;
  actor_type: "user" | "system" | "customer" | "vendor";
  actor_id: string | null;
  actor_name: string | null;
  actor_role: string | null;
  summary: string;
  why: string | null;
  refs: Record<string, unknown>;
}

/** Whether the caller asked for CSV: `?format=csv`, or `Accept: text/csv` without `?format`. */
function wantsCsv(format: "json" | "csv" | undefined, accept: string | undefined): boolean {
  if (format) return format === "csv";
  return /(^|,)\s*text\/csv\s*(;|,|$)/i.test(accept ?? "");
}

/** GET /policies/{id}/timeline: JSON, or the CSV attachment. */
export const timeline: RouteHandler<typeof getPolicyTimeline, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const { format } = c.req.valid("query");
  const { policy, rows } = await asCaller(c.get("claims"), async (tx) => {
    const [policy] = await tx<{ id: string; policy_number: string }[]>`
      select p.id, p.policy_number from public.policies p where p.id = ${id}`;
    if (!policy) throw notFound("policy");
    // One more than answered, to know whether there were more.
    const rows = await tx<TimelineRow[]>`
      select t.at, t.kind, t.actor_type, t.actor_id, t.actor_name, t.actor_role, t.summary,
             t.why, t.refs
        from private.policy_timeline(${id}, ${timelineMaxEntries + 1}) t`;
    return { policy, rows };
  });
  const body: PolicyTimeline = {
    policy,
    entries: rows.slice(0, timelineMaxEntries).map((row) => ({
      at: new Date(row.at).toISOString(),
      kind: row.kind,
      actor: { type: row.actor_type, id: row.actor_id, name: row.actor_name, role: row.actor_role },
      summary: row.summary,
      why: row.why,
      refs: row.refs,
    })),
    truncated: rows.length > timelineMaxEntries,
  };
  if (wantsCsv(format, c.req.header("accept"))) {
    return c.body(timelineCsv(body.entries), 200, {
      "content-type": "text/csv; charset=utf-8; header=present",
      "content-disposition": `attachment; filename="${timelineFileName(policy.policy_number)}"`,
      "x-timeline-truncated": String(body.truncated),
    });
  }
  return c.json(body, 200);
};
