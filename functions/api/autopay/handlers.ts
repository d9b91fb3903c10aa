// Handlers of /api/cases/{caseId}/autopay. Which cases may have autopay, for how much and from
// when is the database's (private.open_autopay, as the caller); these handlers create the plan
// (when no plan of that shape exists yet) and the subscription at Razorpay under the journal rows
// the database wrote, and record the answers as service_role.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, asService, type Tx } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import { ask, callJournaled, journaled, razorpay } from "../../_shared/payments/razorpay_calls.ts";
import type { CreatePlanInput, CreateSubscriptionInput } from "../../_shared/razorpay/client.ts";
import type { RazorpaySubscription } from "../../_shared/razorpay/types.ts";
import type { cancelAutopay, getAutopay, MandateSchema, openAutopay } from "./routes.ts";

type Mandate = z.infer<typeof MandateSchema>;

/** A mandate in one of these can debit nothing more: a cancel is moot. */
const endedStatuses = new Set(["cancelled", "completed", "expired"]);

/** A row of private.open_autopay(). */
interface OpenedMandate {
  autopay_mandate_id: string;
  reused: boolean;
  autopay_plan_id: string;
  razorpay_plan_id: string | null;
  plan_call_id: string | null;
  plan_request: CreatePlanInput | null;
  subscription_call_id: string | null;
  subscription_request: Omit<CreateSubscriptionInput, "plan_id"> & { plan_id?: string };
}

/** The case's latest mandate with its notices, as the caller sees them (RLS). */
async function mandateOf(tx: Tx, caseId: string): Promise<Mandate | undefined> {
  const [mandate] = await tx<Mandate[]>`
    select m.id, m.razorpay_subscription_id as subscription_id, m.short_url, m.status,
           m.installment_amount, m.max_amount, m.period, m."interval", m.total_count,
           m.paid_count, m.start_at, m.charge_at, m.pause_reason,
           coalesce((select jsonb_agg(jsonb_build_object(
                       'installment_id', n.outstanding_amount_id, 'amount', n.amount,
                       'charge_at', n.charge_at, 'message_id', n.message_id,
                       'created_at', n.created_at) order by n.charge_at)
                       from public.autopay_debit_notices n where n.autopay_mandate_id = m.id),
                    '[]') as notices
      from public.autopay_mandates m
     where m.case_id = ${caseId}
     order by m.created_at desc
     limit 1`;
  return mandate;
}

/**
 * POST /cases/{caseId}/autopay: private.open_autopay as the caller (refusals are its SQLSTATEs),
 * then the plan and the subscription at Razorpay; a plan that fails for good takes the waiting
 * subscription call with it. 201 with the new mandate, 200 with the live one.
 */
export const open: RouteHandler<typeof openAutopay, AppEnv> = async (c) => {
  const { caseId } = c.req.valid("param");
  const client = razorpay();
  const claims = c.get("claims");
  const [row] = await asCaller(
    claims,
    (tx) => tx<OpenedMandate[]>`select * from private.open_autopay(${caseId})`,
  );
  if (!row.reused) {
    let planId = row.razorpay_plan_id;
    if (row.plan_call_id && row.plan_request) {
      const request = row.plan_request;
      const plan = await callJournaled(
        row.plan_call_id,
        "create_plan",
        () => client.createPlan(request),
      );
      await asService((tx) =>
        tx`select private.record_plan_created(${row.autopay_plan_id}, ${row.plan_call_id}, ${
          tx.json(plan as never)
        }::jsonb)`
      );
      planId = plan.id;
    }
    if (row.subscription_call_id && planId) {
      const request = { ...row.subscription_request, plan_id: planId };
      const subscription = await callJournaled(
        row.subscription_call_id,
        "create_subscription",
        () => client.createSubscription(request),
      );
      await asService((tx) =>
        tx`select private.record_subscription_created(
             ${row.autopay_mandate_id}, ${row.subscription_call_id}, ${
          tx.json(subscription as never)
        }::jsonb)`
      );
    }
  }
  const mandate = await asCaller(claims, (tx) => mandateOf(tx, caseId));
  return c.json({ ...mandate!, reused: row.reused }, row.reused ? 200 : 201);
};

/** GET /cases/{caseId}/autopay: 404 when the case is not the caller's or has no mandate. */
export const get: RouteHandler<typeof getAutopay, AppEnv> = async (c) => {
  const { caseId } = c.req.valid("param");
  const mandate = await asCaller(c.get("claims"), (tx) => mandateOf(tx, caseId));
  if (!mandate) throw notFound("autopay mandate");
  return c.json(mandate, 200);
};

/**
 * DELETE /cases/{caseId}/autopay: the caller must see the case's live mandate; Razorpay cancels
 * the subscription at once (cancel_at_cycle_end 0, journaled) and its answer is recorded. When
 * Razorpay refuses the cancel because the subscription already ended without our knowing
 * ("Subscription is not cancellable in expired status.": Razorpay sends no webhook for an
 * expiry, and a cancel or completion webhook may be lost), the subscription is fetched and
 * recorded, and the mandate is answered as it now is; a refusal that leaves it live stays a 502.
 */
export const cancel: RouteHandler<typeof cancelAutopay, AppEnv> = async (c) => {
  const { caseId } = c.req.valid("param");
  const client = razorpay();
  const claims = c.get("claims");
  const [live] = await asCaller(
    claims,
    (tx) =>
      tx<{ id: string; razorpay_subscription_id: string }[]>`
      select id, razorpay_subscription_id from public.autopay_mandates
       where case_id = ${caseId} and razorpay_subscription_id is not null
         and status in ('created', 'authenticated', 'active', 'pending', 'halted', 'paused')`,
  );
  if (!live) throw notFound("live autopay mandate");
  const record = (subscription: RazorpaySubscription) =>
    asService((tx) =>
      tx<{ status: string }[]>`
        select (private.record_subscription_created(${live.id}, null, ${
        tx.json(subscription as never)
      }::jsonb)).status`
    );
  try {
    const subscription = await journaled(
      "cancel_subscription",
      live.id,
      { subscription_id: live.razorpay_subscription_id, cancel_at_cycle_end: 0 },
      () => client.cancelSubscription(live.razorpay_subscription_id, { cancel_at_cycle_end: 0 }),
    );
    await record(subscription);
  } catch (error) {
    // 502: Razorpay refused for good (razorpayProblem); anything else is thrown as it is.
    if (!(error instanceof ProblemError) || error.status !== 502) throw error;
    const subscription = await ask(() => client.fetchSubscription(live.razorpay_subscription_id));
    const [{ status }] = await record(subscription);
    if (!endedStatuses.has(status)) throw error;
  }
  const mandate = await asCaller(claims, (tx) => mandateOf(tx, caseId));
  return c.json(mandate!, 200);
};
