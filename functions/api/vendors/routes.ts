// /api/vendors: how the messaging vendors did — per vendor outcome counts and cost for a period,
// and one vendor's latency, failure reasons, cost and circuit breaker. Managers and admins.
import { createRoute, z } from "@hono/zod-openapi";
import { VendorCode } from "../../_shared/domain.ts";
import { commonProblems, json, problem, signedIn } from "../../_shared/schemas.ts";
import { FactPeriodQuery, PeriodSchema, ReportPeriodQuery } from "../communications/period.ts";
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
  description: "Over the messages to customers queued in the period, each counted for the " +
    "vendor of its last attempt: an admin's are every one, a manager's those of their " +
    "subtree's cases and those their subtree's agents sent without a case (as in the " +
    "performance reports). Cost covers the messages the vendor accepted: the vendor's " +
    "reported price where known (actual), else the gate's estimate (estimated); a WhatsApp " +
    "message that failed costs only what Meta reported (Meta bills delivered messages); " +
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
  summary: "A vendor's outcomes, latency, failure causes, cost and circuit breaker for a period",
  description: "Over the messages to customers whose last attempt was this vendor's, queued " +
    "in the period: counts by outcome and status; queue-to-sent and queue-to-delivered " +
    "latency (p50, p95, p99) overall and per provider; failure causes (customer, provider, " +
    "us, regulation) with their codes, and the codes this vendor gave by frequency with " +
    "their cause (failure_reasons: a code counts for the vendor that gave it, even when the " +
    "fallback provider then carried the message); cost " +
    "(actual where reported, else estimated), per delivered message and per renewal (last " +
    "touch); the same per template; a series per IST hour (within the last 7 days) or day " +
    "(up to 90 days); and the circuit breaker now with its changes in the period. Read from " +
    "the analytics facts, refreshed every 5 minutes (facts_as_of). Admins count every " +
    "message, managers those of their subtree's cases and those their subtree's agents " +
    "sent without a case. Managers and admins only.",
  ...signedIn,
  request: { params: VendorIdParams, query: FactPeriodQuery },
  responses: {
    200: json(
      "The vendor's measures",
      PerformanceSchema.extend({ vendor: VendorRefSchema }).openapi("VendorPerformance"),
    ),
    ...commonProblems,
    403: problem("Only managers and admins read the vendor reports"),
    404: problem("No such messaging vendor (SMS, email or WhatsApp)"),
  },
});
