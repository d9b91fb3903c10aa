import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import { notFound } from "../../_shared/errors.ts";
import type { CustomerProfileSchema, getCustomerProfile } from "./routes.ts";

type CustomerProfile = z.infer<typeof CustomerProfileSchema>;

export const profile: RouteHandler<typeof getCustomerProfile, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  // One statement: every part is read under the caller's row-level security.
  const [row] = await asCaller(c.get("claims"), (tx) =>
    tx<CustomerProfile[]>`
    select
      json_build_object(
        'id', cu.id, 'full_name', cu.full_name, 'phone', cu.phone, 'email', cu.email,
        'language', cu.language, 'preferred_channel', cu.preferred_channel, 'dnd', cu.dnd,
        'kyc_verified_on', cu.kyc_verified_on, 'city', cu.city) as customer,
      coalesce((
        select json_agg(json_build_object(
                 'id', p.id, 'policy_number', p.policy_number, 'product_line', p.product_line,
                 'insurer', p.insurer, 'premium', p.premium, 'sum_insured', p.sum_insured,
                 'start_date', p.start_date, 'end_date', p.end_date,
                 'payment_frequency', p.payment_frequency, 'ncb_percent', p.ncb_percent,
                 'status', p.status) order by p.end_date desc)
          from public.policies p where p.customer_id = cu.id), '[]') as policies,
      coalesce((
        select json_agg(json_build_object(
                 'id', rc.id, 'case_number', rc.case_number, 'policy_id', rc.policy_id,
                 'stage', rc.stage, 'priority', rc.priority, 'due_date', rc.due_date,
                 'outstanding', coalesce((
                   select sum(o.amount) from public.outstanding_amounts o
                    where o.case_id = rc.id and o.status in ('pending', 'overdue')), 0),
                 'assignee', (select json_build_object('id', a.id, 'full_name', a.full_name)
                                from public.profiles a where a.id = rc.assignee_id))
                 order by rc.due_date desc)
          from public.renewal_cases rc where rc.customer_id = cu.id), '[]') as cases,
      coalesce((
        select json_agg(json_build_object(
                 'channel', cs.channel, 'purpose', cs.purpose, 'status', cs.status,
                 'source', cs.source, 'recorded_at', cs.recorded_at)
                 order by cs.channel, cs.purpose)
          from public.consents cs where cs.customer_id = cu.id), '[]') as consents
    from public.customers cu
    where cu.id = ${id}`);
  if (!row) throw notFound("customer");
  return c.json(row, 200);
};
