// Handlers of /api/alerts, run as the caller: a 403 for anyone but admins and managers, said
// before anything is read; RLS on public.alerts agrees. Admins' answers carry each alert's emails
// (private.alert_emails: staff messages are outside the desk's RLS) and the rules that failed to
// evaluate (public.alert_rules.last_error).
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import { ProblemError } from "../../_shared/errors.ts";
import type { AlertSchema, listAlerts } from "./routes.ts";

type Alert = z.infer<typeof AlertSchema>;

interface AlertRow extends Omit<Alert, "raised_at" | "last_seen_at" | "resolved_at" | "emails"> {
  raised_at: Date;
  last_seen_at: Date;
  resolved_at: Date | null;
}

/**
 * GET /alerts: open alerts, then the resolved ones of the last `days` days, newest first; for
 * admins also the enabled rules whose last evaluation failed (failing_rules, null for managers).
 */
export const list: RouteHandler<typeof listAlerts, AppEnv> = async (c) => {
  const { status, days, limit } = c.req.valid("query");
  const { rows, open, emails, failing } = await asCaller(c.get("claims"), async (tx) => {
    const [caller] = await tx<{ role: string | null }[]>`
      select private.current_app_role()::text as role`;
    if (caller.role !== "admin" && caller.role !== "manager") {
      throw new ProblemError(403, "Forbidden", "Only admins and managers read alerts.");
    }
    const rows = await tx<AlertRow[]>`
      select a.id, a.rule, a.subject, a.status, a.raised_at, a.last_seen_at, a.resolved_at,
             a.resolution, a.value::float8 as value, a.summary, a.details, a.reopened, a.notified
        from public.alerts a
       where (a.status = 'open' or a.resolved_at > now() - make_interval(days => ${days}))
         and (${status ?? null}::text is null or a.status = ${status ?? null})
       order by a.status = 'open' desc, a.raised_at desc, a.id
       limit ${limit}`;
    const [{ open }] = await tx<{ open: number }[]>`
      select count(*)::int as open from public.alerts where status = 'open'`;
    const emails = caller.role === "admin"
      ? await tx<{ alert_id: string; kind: string; status: string; emails: number }[]>`
          select alert_id, kind, status::text, emails
            from private.alert_emails(${rows.map((row) => row.id)}::uuid[])`
      : undefined;
    // RLS shows admins the rules; a manager's answer says nothing of them.
    const failing = caller.role === "admin"
      ? await tx<{ rule: string; last_error: string; last_evaluated_at: Date | null }[]>`
          select code as rule, last_error, last_evaluated_at
            from public.alert_rules
           where enabled and last_error is not null
           order by code`
      : undefined;
    return { rows, open, emails, failing };
  });
  const data: Alert[] = rows.map((row) => {
    const mine = emails?.filter((e) => e.alert_id === row.id);
    const counts = (kind: string) =>
      Object.fromEntries(
        (mine ?? []).filter((e) => e.kind === kind).map((e) => [e.status, e.emails]),
      );
    return {
      ...row,
      raised_at: row.raised_at.toISOString(),
      last_seen_at: row.last_seen_at.toISOString(),
      resolved_at: row.resolved_at?.toISOString() ?? null,
      emails: mine ? { raised: counts("raised"), resolved: counts("resolved") } : null,
    };
  });
  const failingRules = failing?.map((rule) => ({
    ...rule,
    last_evaluated_at: rule.last_evaluated_at?.toISOString() ?? null,
  })) ?? null;
  return c.json({ data, open, failing_rules: failingRules }, 200);
};
