// Razorpay's Subscriptions REST API as the sandbox plays it, under /razorpay/v1 (Razorpay docs
// api/payments/subscriptions/*): plans (`POST /v1/plans`, `GET /v1/plans[/{id}]`) and
// subscriptions (`POST /v1/subscriptions`, `GET /v1/subscriptions[/{id}]`, `POST
// /v1/subscriptions/{id}/cancel {cancel_at_cycle_end: 0|1}`, `…/pause {pause_at: "now"}`,
// `…/resume {resume_at: "now"}`), a subscription's invoices (`GET /v1/invoices?subscription_id=…`,
// `GET /v1/invoices/{id}`), with Razorpay's validation envelope, "The id provided does not
// exist" for an unknown id, and the webhooks each change makes. Basic auth and faults are
// checked before (razorpay.ts). The life cycle itself is razorpay_subscriptions.ts.
// Descriptions marked (v) are the sandbox's wording, not Razorpay's.
import { json } from "./http.ts";
import type { RazorpayVendor } from "./razorpay.ts";
import {
  amountError,
  currencyError,
  extraFieldsError,
  notesError,
  notFound,
  page,
  urlNotFound,
  validationError,
} from "./razorpay_http.ts";
import {
  type PlanPeriod,
  planPeriods,
  SubscriptionRefused,
  withinMaxLife,
} from "./razorpay_subscriptions.ts";
import { unixNow } from "./razorpay_store.ts";

type Body = Record<string, unknown>;

const isInteger = (value: unknown): value is number =>
  typeof value === "number" && Number.isInteger(value);

/**
 * A change the subscription's status does not allow, as Razorpay answers it (docs
 * cancel-subscription: `{code: BAD_REQUEST_ERROR, description: "Subscription is not
 * cancellable in expired status.", field: "status"}`).
 */
function statusError(description: string): Response {
  return json({
    error: {
      code: "BAD_REQUEST_ERROR",
      description,
      field: "status",
      source: "NA",
      step: "NA",
      reason: "NA",
      metadata: {},
    },
  }, 400);
}

/** `/v1/plans[/{id}]`. */
export function plansRoute(
  vendor: RazorpayVendor,
  request: { method: string; url: URL; id?: string; action?: string; body: Body },
): Response {
  const { method, id, action, body } = request;
  if (method === "POST" && !id) return createPlan(vendor, body);
  if (method === "GET" && !id) {
    const items = page([...vendor.subscriptions.plans.values()], request.url);
    return json({ entity: "collection", count: items.length, items });
  }
  if (method === "GET" && id && !action) {
    const plan = vendor.subscriptions.plans.get(id);
    return plan ? json(plan) : notFound();
  }
  return urlNotFound();
}

/** `/v1/subscriptions[/{id}[/cancel|pause|resume]]`. */
export function subscriptionsRoute(
  vendor: RazorpayVendor,
  request: { method: string; url: URL; id?: string; action?: string; body: Body },
): Response {
  const { method, id, action, body } = request;
  const book = vendor.subscriptions;
  if (method === "POST" && !id) return createSubscription(vendor, body);
  if (method === "GET" && !id) {
    const planId = request.url.searchParams.get("plan_id");
    const matching = [...book.subscriptions.values()].filter((r) =>
      planId === null || r.entity.plan_id === planId
    );
    for (const record of matching) vendor.webhooks.emit(book.refresh(record));
    const items = page(matching.map((r) => r.entity), request.url);
    return json({ entity: "collection", count: items.length, items });
  }
  const record = id ? book.subscriptions.get(id) : undefined;
  if (!record) return id && (method === "GET" || method === "POST") ? notFound() : urlNotFound();
  if (method === "GET" && !action) {
    vendor.webhooks.emit(book.refresh(record));
    return json(record.entity);
  }
  if (method !== "POST") return urlNotFound();
  try {
    if (action === "cancel") {
      const error = extraFieldsError(body, ["cancel_at_cycle_end"]);
      if (error) return error;
      const atEnd = body.cancel_at_cycle_end ?? 0;
      if (![0, 1, true, false].includes(atEnd as number | boolean)) {
        return validationError(
          "cancel_at_cycle_end",
          "The cancel at cycle end must be 0 or 1. (v)",
        );
      }
      vendor.webhooks.emit(book.cancel(record, atEnd === 1 || atEnd === true));
      vendor.accepted("subscription.cancel", record.entity.id, body, ourIdOf(record.entity.notes));
      return json(record.entity);
    }
    if (action === "pause" || action === "resume") {
      const name = `${action}_at`;
      const error = extraFieldsError(body, [name]);
      if (error) return error;
      if (body[name] !== undefined && body[name] !== "now") {
        return validationError(name, `The selected ${name.replace("_", " ")} is invalid. (v)`);
      }
      vendor.webhooks.emit(action === "pause" ? book.pause(record) : book.resume(record));
      vendor.accepted(
        `subscription.${action}`,
        record.entity.id,
        body,
        ourIdOf(record.entity.notes),
      );
      return json(record.entity);
    }
  } catch (error) {
    if (error instanceof SubscriptionRefused) return statusError(error.message);
    throw error;
  }
  return urlNotFound();
}

/**
 * `/v1/invoices[/{id}]`: the invoices the subscriptions made (the sandbox makes no other kind),
 * filtered by `subscription_id` and `payment_id` when given, newest first, `count` (≤ 100) and
 * `skip` (Razorpay docs subscriptions/fetch-invoices, invoices/fetch-all). A subscription id that
 * is not the account's lists nothing (v).
 */
export function invoicesRoute(
  vendor: RazorpayVendor,
  request: { method: string; url: URL; id?: string; action?: string },
): Response {
  const { method, id, action, url } = request;
  if (method !== "GET" || action) return urlNotFound();
  const book = vendor.subscriptions;
  if (id) {
    const invoice = book.invoices.get(id);
    return invoice ? json(invoice) : notFound();
  }
  const subscriptionId = url.searchParams.get("subscription_id");
  const paymentId = url.searchParams.get("payment_id");
  const matching = [...book.invoices.values()].filter((invoice) =>
    (subscriptionId === null || invoice.subscription_id === subscriptionId) &&
    (paymentId === null || invoice.payment_id === paymentId)
  );
  const items = page(matching, url);
  return json({ entity: "collection", count: items.length, items });
}

/** Our key in a subscription's notes (`autopay_id`), for the inspection API's ourId. */
function ourIdOf(notes: unknown): string | undefined {
  const value = (notes as Record<string, unknown> | null)?.autopay_id;
  return typeof value === "string" ? value : undefined;
}

function createPlan(vendor: RazorpayVendor, body: Body): Response {
  const error = extraFieldsError(body, ["period", "interval", "item", "notes"]) ??
    notesError(body.notes);
  if (error) return error;
  if (body.period === undefined || body.period === null) {
    return validationError("period", "The period field is required.");
  }
  if (!planPeriods.includes(body.period as PlanPeriod)) {
    return validationError("period", "The selected period is invalid.");
  }
  const period = body.period as PlanPeriod;
  if (body.interval === undefined || body.interval === null) {
    return validationError("interval", "The interval field is required.");
  }
  if (!isInteger(body.interval)) {
    return validationError("interval", "The interval must be an integer.");
  }
  if (body.interval < 1) return validationError("interval", "The interval must be at least 1.");
  // Razorpay docs create-plan: "For daily plans, the minimum value should be 7."
  if (period === "daily" && body.interval < 7) {
    return validationError("interval", "For daily plans, the interval must be at least 7. (v)");
  }
  const item = body.item;
  if (item === undefined || item === null) {
    return validationError("item", "The item field is required.");
  }
  if (typeof item !== "object" || Array.isArray(item)) {
    return validationError("item", "The item must be an array. (v)");
  }
  const fields = item as Body;
  const itemError = extraFieldsError(fields, ["name", "amount", "currency", "description"]) ??
    amountError(fields.amount) ?? currencyError(fields.currency, false);
  if (itemError) return itemError;
  if (typeof fields.name !== "string" || fields.name.trim() === "") {
    return validationError("name", "The name field is required.");
  }
  if (fields.description !== undefined && typeof fields.description !== "string") {
    return validationError("description", "The description must be a string.");
  }
  const plan = vendor.subscriptions.addPlan({
    period,
    interval: body.interval,
    name: fields.name,
    amount: fields.amount as number,
    description: (fields.description as string | undefined) ?? null,
    notes: body.notes as Record<string, string> | undefined,
  });
  vendor.accepted("plan.create", plan.id, body);
  return json(plan);
}

function createSubscription(vendor: RazorpayVendor, body: Body): Response {
  // Razorpay also takes addons, offer_id and notify_info; the sandbox does not play them.
  const error = extraFieldsError(body, [
    "plan_id",
    "total_count",
    "quantity",
    "start_at",
    "expire_by",
    "customer_notify",
    "notes",
  ]) ?? notesError(body.notes);
  if (error) return error;
  if (typeof body.plan_id !== "string" || body.plan_id === "") {
    return validationError("plan_id", "The plan id field is required.");
  }
  const plan = vendor.subscriptions.plans.get(body.plan_id);
  if (!plan) return validationError("plan_id", "The id provided does not exist");
  if (body.total_count === undefined || body.total_count === null) {
    return validationError("total_count", "The total count field is required.");
  }
  if (!isInteger(body.total_count) || body.total_count < 1) {
    return validationError("total_count", "The total count must be at least 1.");
  }
  if (!withinMaxLife(plan, body.total_count)) {
    return validationError(
      "total_count",
      "The subscription may last at most 100 years (v)",
    );
  }
  if (body.quantity !== undefined && (!isInteger(body.quantity) || body.quantity < 1)) {
    return validationError("quantity", "The quantity must be at least 1.");
  }
  const now = unixNow();
  for (const name of ["start_at", "expire_by"]) {
    const value = body[name];
    if (value === undefined || value === null) continue;
    if (!isInteger(value)) return validationError(name, `The ${name} must be an integer.`);
    if (value <= now) {
      return validationError(name, `${name} cannot be lesser than the current time (v)`);
    }
  }
  const notify = body.customer_notify ?? 1;
  if (![0, 1, true, false].includes(notify as number | boolean)) {
    return validationError("customer_notify", "The customer notify must be 0 or 1. (v)");
  }
  const subscription = vendor.subscriptions.addSubscription(plan, {
    totalCount: body.total_count,
    quantity: (body.quantity as number | undefined) ?? 1,
    startAt: (body.start_at as number | undefined) ?? null,
    expireBy: (body.expire_by as number | undefined) ?? null,
    customerNotify: notify === 1 || notify === true,
    notes: body.notes as Record<string, string> | undefined,
  });
  vendor.accepted("subscription.create", subscription.id, body, ourIdOf(body.notes));
  return json(subscription);
}
