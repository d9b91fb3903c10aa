// Handlers of /api/tasks, run as the caller: RLS decides which tasks a caller sees and which
// they may change (the assignee's own, and those escalated to the caller while a manager); the
// task's rules (a done task stays done) are the database's.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, type Tx } from "../../_shared/db.ts";
import { notFound } from "../../_shared/errors.ts";
import type { listTasks, TaskSchema, updateTask } from "./routes.ts";

type Task = z.infer<typeof TaskSchema>;

const taskColumns = (tx: Tx) =>
  tx`t.id, t.case_id, c.case_number, cu.full_name as customer_name, t.assignee_id, t.kind,
     t.status, t.outcome, t.due_at, t.sla_due_at, t.snoozed_until, t.done_at,
     t.escalation_level, t.escalated_to`;

/** GET /tasks: mine (assigned or escalated to me) or my team's, soonest SLA first. */
export const list: RouteHandler<typeof listTasks, AppEnv> = async (c) => {
  const { scope, status, limit } = c.req.valid("query");
  const claims = c.get("claims");
  const data = await asCaller(claims, (tx) =>
    tx<Task[]>`
      select ${taskColumns(tx)}
        from public.tasks t
        join public.renewal_cases c on c.id = t.case_id
        join public.customers cu on cu.id = c.customer_id
       where (${scope} = 'team' or t.assignee_id = auth.uid() or t.escalated_to = auth.uid())
         and (${status ?? null}::text is null or t.status = ${status ?? null})
       order by t.status = 'done', t.sla_due_at, t.id
       limit ${limit}`);
  return c.json({ data }, 200);
};

/**
 * PATCH /tasks/{id}: 404 unless the caller is the assignee or the manager it is escalated to
 * (RLS); 422 for a done task.
 */
export const update: RouteHandler<typeof updateTask, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  // The snooze's bounds (after now, at most 30 days ahead) are the database's: 22023 → 422.
  const snoozedUntil = body.status === "snoozed" ? new Date(body.snoozed_until) : null;
  const task = await asCaller(c.get("claims"), async (tx) => {
    const [changed] = await tx<{ id: string }[]>`
      update public.tasks
         set status = ${body.status},
             outcome = ${body.status === "done" ? body.outcome : null},
             snoozed_until = ${snoozedUntil}
       where id = ${id}
      returning id`;
    if (!changed) return undefined;
    const [row] = await tx<Task[]>`
      select ${taskColumns(tx)}
        from public.tasks t
        join public.renewal_cases c on c.id = t.case_id
        join public.customers cu on cu.id = c.customer_id
       where t.id = ${id}`;
    return row;
  });
  if (!task) throw notFound("task");
  return c.json(task, 200);
};
