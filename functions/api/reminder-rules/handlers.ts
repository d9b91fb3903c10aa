// Handlers of /api/reminder-rules, run as the caller: RLS lets the desk read and admins change;
// the table's checks keep a step consistent (a message names its channels and template, a task
// its SLA).
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, type Tx } from "../../_shared/db.ts";
import { notFound } from "../../_shared/errors.ts";
import type { listReminderRules, ReminderRuleSchema, updateReminderRule } from "./routes.ts";

type ReminderRule = z.infer<typeof ReminderRuleSchema>;

const ruleColumns = (tx: Tx) =>
  tx`id, product_line, offset_days, kind, channels::text[] as channels, template_code, purpose,
     applies_until, min_premium, task_kind, sla_hours, active`;

/** GET /reminder-rules: every step, by product line and day. */
export const list: RouteHandler<typeof listReminderRules, AppEnv> = async (c) => {
  const { product_line } = c.req.valid("query");
  const data = await asCaller(c.get("claims"), (tx) =>
    tx<ReminderRule[]>`
      select ${ruleColumns(tx)} from public.reminder_rules
       where ${product_line ?? null}::public.product_line is null
          or product_line = ${product_line ?? null}
       order by product_line, offset_days, kind`);
  return c.json({ data }, 200);
};

/** PATCH /reminder-rules/{id}: the fields given, as the caller (404 unless an admin). */
export const update: RouteHandler<typeof updateReminderRule, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  const [row] = await asCaller(c.get("claims"), (tx) =>
    tx<ReminderRule[]>`
      update public.reminder_rules set
        offset_days = coalesce(${body.offset_days ?? null}::integer, offset_days),
        channels = coalesce(${body.channels ?? null}::public.channel_type[], channels),
        template_code = coalesce(${body.template_code ?? null}, template_code),
        min_premium = case when ${body.min_premium === undefined} then min_premium
                           else ${body.min_premium ?? null}::bigint end,
        sla_hours = coalesce(${body.sla_hours ?? null}::integer, sla_hours),
        active = coalesce(${body.active ?? null}::boolean, active)
       where id = ${id}
      returning ${ruleColumns(tx)}`);
  if (!row) throw notFound("reminder step");
  return c.json(row, 200);
};
