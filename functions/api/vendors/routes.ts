// /api/vendors: how the messaging vendors did — per vendor outcome counts and cost for a period,
// and one vendor's latency, failure reasons, cost and circuit breaker. Managers and admins.
import { createRoute, z } from "@hono/zod-openapi";
import { VendorCode } from "../../_shared/domain.ts";
import { commonProblems, json, problem, signedIn } from "../../_shared/schemas.ts";
import { PeriodSchema, ReportPeriodQuery } from "../communications/period.ts";
import {
  CostSchema,
  OutcomeCountsSchema,
  PerformanceSchema,
} from "../communications/performance.ts";

/** A vendor as the reports name it. */
export const VendorRefSchema = z.object({
  id: z.guid(),
  code: z.string().openapi({ example: "twilio" }),
  name: z.string(),
  kind: z.string().openapi({ example: "sms" }),
}).openapi("VendorRef");

/** One vendor's messages in the period: outcome counts and cost. */
export const VendorCommunicationsSchema = OutcomeCountsSchema.extend({
  vendor: VendorRefSchema,
  cost: CostSchema,
}).openapi("VendorCommunications");

/** GET /vendors/communications. */
export const getVendorCommunications = createRoute({
  operationId: "getVendorCommunications",
  method: "get",
  path: "/vendors/communications",
  tags: ["Vendors"],
  summary: "Per messaging vendor: sent, delivered, read, failed, undeliverable and cost",
  description: "Over the messages the caller may see, queued in the period, each counted for " +
    "the vendor of its last attempt. Cost covers the messages the vendor accepted: the " +
    "vendor's reported price where known (actual), else the gate's estimate (estimated); " +
    "exact decimal paise. Managers and admins only.",
  ...signedIn,
  request: { query: ReportPeriodQuery },
  responses: {
    200: json(
      "Every messaging vendor, by code",
      z.object({ period: PeriodSchema, data: z.array(VendorCommunicationsSchema) }),
    ),
    ...commonProblems,
    403: problem("Only managers and admins read the vendor reports"),
  },
});

/** The path of one vendor: its id, or its code. */
export const VendorIdParams = z.object({
  id: z.union([z.guid(), VendorCode]).openapi({
    param: { name: "id", in: "path" },
    example: "twilio",
    description: "The vendor's id or its code",
  }),
});

/** GET /vendors/{id}/performance. */
export const getVendorPerformance = createRoute({
  operationId: "getVendorPerformance",
  method: "get",
  path: "/vendors/{id}/performance",
  tags: ["Vendors"],
  summary: "A vendor's latency, failure reasons, cost and circuit breaker for a period",
  description: "Queue-to-sent and queue-to-delivered latency (p50 and p95, percentile_cont), " +
    "the vendors' error codes by frequency, cost (actual where reported, else estimated), and " +
    "the circuit breaker now with its changes in the period. Over the messages the caller " +
    "may see whose last attempt was this vendor's. Managers and admins only.",
  ...signedIn,
  request: { params: VendorIdParams, query: ReportPeriodQuery },
  responses: {
    200: json(
      "The vendor's measures",
      PerformanceSchema.extend({ vendor: VendorRefSchema }).openapi("VendorPerformance"),
    ),
    ...commonProblems,
    403: problem("Only managers and admins read the vendor reports"),
    404: problem("No such vendor"),
  },
});
