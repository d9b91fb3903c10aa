// Handlers of /api/vendors, run as the caller: managers and admins only (a 403 for the rest).
// The per-vendor counts read the messages under RLS; a vendor's performance reads the analytics
// facts through private.message_performance. Either way a manager's are their subtree's: the
// messages of its cases and those its agents sent without a case.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import { notFound } from "../../_shared/errors.ts";
import {
  inPeriod,
  reportDefaultDays,
  resolveFactPeriod,
  resolvePeriod,
} from "../communications/period.ts";
import {
  measurePerformance,
  outcomeColumns,
  requireManagerOrAdmin,
} from "../communications/performance.ts";
import type {
  getVendorCommunications,
  getVendorPerformance,
  VendorCommunicationsSchema,
  VendorRefSchema,
} from "./routes.ts";

type VendorCommunications = z.infer<typeof VendorCommunicationsSchema>;
type VendorRef = z.infer<typeof VendorRefSchema>;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The vendor kinds that carry messages (Razorpay and OpenAI do not). */
const messagingKinds = ["sms", "email", "whatsapp"];

/** GET /vendors/communications: every messaging vendor's counts and cost, by code. */
export const communications: RouteHandler<typeof getVendorCommunications, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const { period, rows } = await asCaller(c.get("claims"), async (tx) => {
    await requireManagerOrAdmin(tx);
    const period = await resolvePeriod(tx, query, reportDefaultDays);
    const rows = await tx<VendorCommunications[]>`
      select json_build_object('id', v.id, 'code', v.code, 'name', v.name, 'kind', v.kind)
               as vendor,
             ${outcomeColumns(tx)}
        from public.vendors v
        left join public.messages m
          on m.provider = v.code ${inPeriod(tx, "m", "created_at", period)}
         -- RLS leaves the messages of the customers the caller sees; a manager's counts are
         -- those of the analytics facts: their subtree's cases (RLS has checked the case) and
         -- the messages their subtree's agents sent without a case.
         and (m.case_id is not null or (select private.is_admin())
              or m.created_by = any ((select private.visible_agent_ids())::uuid[]))
       where v.kind::text = any (${messagingKinds})
       group by v.id
       order by v.code`;
    return { period, rows };
  });
  return c.json({ period: { from: period.from!, to: period.to! }, data: [...rows] }, 200);
};

/**
 * GET /vendors/{id}/performance: the measures of the messages whose last attempt was the
 * vendor's, read from the analytics facts, with its breaker; 404 for a vendor that does not
 * exist or carries no messages (Razorpay, OpenAI), 422 for a period that does not fit its
 * granularity.
 */
export const performance: RouteHandler<typeof getVendorPerformance, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const query = c.req.valid("query");
  const result = await asCaller(c.get("claims"), async (tx) => {
    await requireManagerOrAdmin(tx);
    const [vendor] = await tx<VendorRef[]>`
      select v.id, v.code, v.name, v.kind from public.vendors v
       where v.kind::text = any (${messagingKinds})
         and ${uuidPattern.test(id) ? tx`v.id = ${id}::uuid` : tx`v.code = ${id}`}`;
    if (!vendor) throw notFound("vendor");
    const period = await resolveFactPeriod(tx, query);
    const measures = await measurePerformance(tx, { provider: vendor.code }, period, [
      vendor.code,
    ]);
    return { vendor, ...measures };
  });
  return c.json(result, 200);
};
