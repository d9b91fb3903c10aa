// Handler of GET /api/hierarchy/{nodeId}/performance, run as the caller: the figures come from
// private.node_performance, which reads the analytics facts and decides what the caller may see
// (admins any node, managers their subtree; 42501 → 403 for others, P0002 → 404).
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import { resolveDayPeriod } from "../communications/period.ts";
import { requireManagerOrAdmin } from "../communications/performance.ts";
import type { getNodePerformance, NodePerformanceSchema } from "./performance_routes.ts";

type NodePerformance = z.infer<typeof NodePerformanceSchema>;

/**
 * GET /hierarchy/{nodeId}/performance: the node's figures over business days `from`..`to`
 * (default the last 30 days through today, IST) beside its children's. 403 for agents and
 * analysts, 404 for a node that does not exist or is outside a manager's subtree, 422 for a
 * period backwards or longer than 366 days.
 */
export const nodePerformance: RouteHandler<typeof getNodePerformance, AppEnv> = async (c) => {
  const { nodeId } = c.req.valid("param");
  const query = c.req.valid("query");
  const figures = await asCaller(c.get("claims"), async (tx) => {
    await requireManagerOrAdmin(tx, "Only managers and admins read performance figures.");
    const period = await resolveDayPeriod(tx, query);
    const [row] = await tx<{ figures: NodePerformance }[]>`
      select private.node_performance(${nodeId}::uuid, ${period.from}::date, ${period.to}::date)
               as figures`;
    return row.figures;
  });
  return c.json(figures, 200);
};
