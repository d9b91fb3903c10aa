// The control and inspection calls of the sandbox's Razorpay (additions to the shared control
// API; faults go through the generic `POST /_control/razorpay`):
//   POST /_control/razorpay/pay {orderId | paymentLinkId, outcome?, amount?, method?, failure?,
//        email?, contact?}                        a customer paying (razorpay_customer.ts)
//   POST /_control/razorpay/webhooks {retries?, backoffMs?, duplicates?, concurrent?, reorder?,
//        drop?, delayMs?, timeoutMs?}            how webhooks are delivered from now on
//   POST /_control/razorpay/webhook-secret {secret?}   rotates the webhook secret
//   POST /_control/razorpay/replay {eventId}     a dashboard replay, signed with the current secret
//   POST /_control/razorpay/refunds {settle?, processingMs?}   how new refunds settle
//   POST /_control/razorpay/refunds/settle {refundId, status}  settles a pending refund
//   POST /_control/razorpay/expire {paymentLinkId}  expires a link now (payment_link.expired)
//   POST /_control/razorpay/subscriptions {haltAfterFailures?}  failed charges in a row that
//        halt a subscription (default 3)
//   POST /_control/razorpay/subscriptions/authorize {subscriptionId, method?, email?, contact?}
//        the customer authorises the mandate at short_url (razorpay_subscriptions.ts)
//   POST /_control/razorpay/subscriptions/charge {subscriptionId, outcome?, failure?}
//        runs the schedule: the next charge happens now (charged or failed)
//   POST /_control/razorpay/subscriptions/expire {subscriptionId}  Razorpay's clock reaches a
//        `created` subscription's expire_by now: expired, no webhook (Razorpay sends none)
//   GET  /_inspect/razorpay/deliveries[?eventId=&event=]  every webhook attempt and its status
//   GET  /_inspect/razorpay/events               the events made (id, type, secretVersion, body)
import { json } from "./http.ts";
import type { RazorpayVendor } from "./razorpay.ts";
import { type PayOutcome, PayRefused, playPayment } from "./razorpay_customer.ts";
import { paymentFailures, snapshot } from "./razorpay_store.ts";
import { SubscriptionRefused } from "./razorpay_subscriptions.ts";
import { razorpayHmac } from "./razorpay_webhooks.ts";
import type { SandboxContext } from "./types.ts";

const outcomes: PayOutcome[] = ["captured", "authorized", "failed", "abandoned"];
const methods = ["upi", "card", "netbanking", "wallet", "emi"];
/** How a customer can authorise a recurring mandate: UPI AutoPay, a card, an e-mandate. */
const mandateMethods = ["upi", "card", "emandate"];

function refuse(status: number, message: string): Response {
  return json({ error: message }, status);
}

const isInteger = (value: unknown, min: number) =>
  typeof value === "number" && Number.isInteger(value) && value >= min;

/** Handles `POST /_control/razorpay/{action...}`; `action` is the path after the vendor. */
export function razorpayControl(
  vendor: RazorpayVendor,
  ctx: SandboxContext,
  action: string,
  body: Record<string, unknown>,
): Response {
  switch (action) {
    case "pay":
      return pay(vendor, ctx, body);
    case "webhooks":
      return webhookSettings(vendor, body);
    case "webhook-secret": {
      if (body.secret !== undefined && (typeof body.secret !== "string" || body.secret === "")) {
        return refuse(400, "secret must be a non-empty string");
      }
      // A sandbox test value, answered so tests can sign and verify with it.
      return json(vendor.webhooks.rotateSecret(body.secret as string | undefined));
    }
    case "replay": {
      if (typeof body.eventId !== "string") return refuse(400, "replay needs { eventId }");
      if (!vendor.webhooks.replay(body.eventId)) return refuse(404, `no event ${body.eventId}`);
      return json({ ok: true });
    }
    case "refunds": {
      const settle = body.settle;
      if (settle !== undefined && !["processed", "failed", "pending"].includes(settle as string)) {
        return refuse(400, "settle must be processed, failed or pending");
      }
      if (body.processingMs !== undefined && !isInteger(body.processingMs, 0)) {
        return refuse(400, "processingMs must be an integer from 0");
      }
      if (settle !== undefined) {
        vendor.refundSettings.settle = settle as "processed" | "failed" | "pending";
      }
      if (body.processingMs !== undefined) {
        vendor.refundSettings.processingMs = body.processingMs as number;
      }
      return json(vendor.refundSettings);
    }
    case "refunds/settle": {
      const refund = vendor.store.refunds.get(String(body.refundId));
      if (!refund) return refuse(404, `no refund ${body.refundId}`);
      if (body.status !== "processed" && body.status !== "failed") {
        return refuse(400, "status must be processed or failed");
      }
      if (refund.status !== "pending") return refuse(409, `the refund is ${refund.status}`);
      const events = vendor.webhooks.emit(vendor.store.settleRefund(refund, body.status));
      return json({ refund, events });
    }
    case "subscriptions": {
      const value = body.haltAfterFailures;
      if (value !== undefined) {
        if (!isInteger(value, 1) || (value as number) > 10) {
          return refuse(400, "haltAfterFailures must be an integer from 1 to 10");
        }
        vendor.subscriptions.haltAfterFailures = value as number;
      }
      return json({ haltAfterFailures: vendor.subscriptions.haltAfterFailures });
    }
    case "subscriptions/authorize":
      return authorizeSubscription(vendor, ctx, body);
    case "subscriptions/charge":
      return chargeSubscription(vendor, body);
    case "subscriptions/expire": {
      const record = vendor.subscriptions.subscriptions.get(String(body.subscriptionId));
      if (!record) return refuse(404, `no subscription ${body.subscriptionId}`);
      try {
        vendor.subscriptions.expireNow(record);
      } catch (error) {
        if (error instanceof SubscriptionRefused) return refuse(error.status, error.message);
        throw error;
      }
      return json({ subscription: snapshot(record.entity) });
    }
    case "expire": {
      const link = vendor.store.links.get(String(body.paymentLinkId));
      if (!link) return refuse(404, `no payment link ${body.paymentLinkId}`);
      const pending = vendor.store.expireIfDue(link, true);
      if (pending.length === 0) return refuse(409, `the payment link is ${link.status}`);
      return json({ paymentLink: link, events: vendor.webhooks.emit(pending) });
    }
  }
  return refuse(404, `no Razorpay control ${action}`);
}

function pay(vendor: RazorpayVendor, ctx: SandboxContext, body: Record<string, unknown>) {
  const { orderId, paymentLinkId } = body;
  if ((typeof orderId === "string") === (typeof paymentLinkId === "string")) {
    return refuse(400, "pay needs exactly one of orderId and paymentLinkId");
  }
  const outcome = (body.outcome ?? "captured") as PayOutcome;
  if (!outcomes.includes(outcome)) return refuse(400, `outcome must be ${outcomes.join(", ")}`);
  if (body.amount !== undefined && !isInteger(body.amount, 1)) {
    return refuse(400, "amount must be a positive integer (paise)");
  }
  const method = body.method ?? "upi";
  if (!methods.includes(method as string)) {
    return refuse(400, `method must be ${methods.join(", ")}`);
  }
  const failure = body.failure ?? "bank_declined";
  if (!(String(failure) in paymentFailures)) {
    return refuse(400, `failure must be ${Object.keys(paymentFailures).join(", ")}`);
  }
  for (const name of ["email", "contact"]) {
    if (body[name] !== undefined && typeof body[name] !== "string") {
      return refuse(400, `${name} must be a string`);
    }
  }
  try {
    return json(playPayment(vendor, ctx, {
      orderId: orderId as string | undefined,
      paymentLinkId: paymentLinkId as string | undefined,
      outcome,
      amount: body.amount as number | undefined,
      method: method as string,
      failure: String(failure),
      email: body.email as string | undefined,
      contact: body.contact as string | undefined,
    }));
  } catch (error) {
    if (error instanceof PayRefused) return refuse(error.status, error.message);
    throw error;
  }
}

/**
 * The customer authorises a subscription's mandate: answers the subscription, the
 * authorisation payment, what Checkout hands the browser (`razorpay_signature` = hex
 * HMAC-SHA256(key secret, `payment_id|subscription_id`), the reversed order, VENDORS.md §4) and
 * the events made (subscription.authenticated, and subscription.activated when it starts now).
 */
function authorizeSubscription(
  vendor: RazorpayVendor,
  ctx: SandboxContext,
  body: Record<string, unknown>,
): Response {
  const record = vendor.subscriptions.subscriptions.get(String(body.subscriptionId));
  if (!record) return refuse(404, `no subscription ${body.subscriptionId}`);
  const method = body.method ?? "upi";
  if (!mandateMethods.includes(method as string)) {
    return refuse(400, `method must be ${mandateMethods.join(", ")}`);
  }
  for (const name of ["email", "contact"]) {
    if (body[name] !== undefined && typeof body[name] !== "string") {
      return refuse(400, `${name} must be a string`);
    }
  }
  try {
    const done = vendor.subscriptions.authorize(record, method as string, {
      email: body.email as string | undefined,
      contact: body.contact as string | undefined,
    });
    const subscriptionId = done.subscription.id;
    return json({
      subscription: snapshot(done.subscription),
      payment: snapshot(done.payment),
      checkout: {
        razorpay_payment_id: done.payment.id,
        razorpay_subscription_id: subscriptionId,
        razorpay_signature: razorpayHmac(
          ctx.credentials.razorpayKeySecret,
          `${done.payment.id}|${subscriptionId}`,
        ),
      },
      events: vendor.webhooks.emit(done.pending),
    });
  } catch (error) {
    if (error instanceof SubscriptionRefused) return refuse(error.status, error.message);
    throw error;
  }
}

/**
 * Runs a subscription's schedule: its next charge happens now, `charged` (default) or `failed`
 * (with `failure`, a key of paymentFailures, default insufficient_funds). 409 and nothing
 * happens when it is paused, not authorised, halted or ended.
 */
function chargeSubscription(vendor: RazorpayVendor, body: Record<string, unknown>): Response {
  const record = vendor.subscriptions.subscriptions.get(String(body.subscriptionId));
  if (!record) return refuse(404, `no subscription ${body.subscriptionId}`);
  const outcome = body.outcome ?? "charged";
  if (outcome !== "charged" && outcome !== "failed") {
    return refuse(400, "outcome must be charged or failed");
  }
  const failure = String(body.failure ?? "insufficient_funds");
  if (!(failure in paymentFailures)) {
    return refuse(400, `failure must be ${Object.keys(paymentFailures).join(", ")}`);
  }
  try {
    const done = vendor.subscriptions.charge(
      record,
      outcome === "failed" ? paymentFailures[failure] : null,
    );
    return json({
      outcome: done.outcome,
      subscription: snapshot(done.subscription),
      payment: done.payment && snapshot(done.payment),
      order: done.order && snapshot(done.order),
      invoiceId: done.invoiceId,
      events: vendor.webhooks.emit(done.pending),
    });
  } catch (error) {
    if (error instanceof SubscriptionRefused) return refuse(error.status, error.message);
    throw error;
  }
}

function webhookSettings(vendor: RazorpayVendor, body: Record<string, unknown>): Response {
  const settings = { ...vendor.webhooks.settings };
  const integers: Array<[keyof typeof settings, number, number]> = [
    ["retries", 0, 20],
    ["backoffMs", 0, 60_000],
    ["duplicates", 0, 10_000],
    ["timeoutMs", 1, 60_000],
  ];
  for (const [name, min, max] of integers) {
    if (!(name in body)) continue;
    const value = body[name];
    if (!isInteger(value, min) || (value as number) > max) {
      return refuse(400, `${name} must be an integer from ${min} to ${max}`);
    }
    (settings as Record<string, unknown>)[name] = value;
  }
  for (const name of ["concurrent", "reorder", "drop"] as const) {
    if (!(name in body)) continue;
    if (typeof body[name] !== "boolean") return refuse(400, `${name} must be a boolean`);
    settings[name] = body[name] as boolean;
  }
  if ("delayMs" in body) {
    if (body.delayMs === null) delete settings.delayMs;
    else if (!isInteger(body.delayMs, 0)) return refuse(400, "delayMs must be an integer from 0");
    else settings.delayMs = body.delayMs as number;
  }
  vendor.webhooks.settings = settings;
  return json(settings);
}

/** `GET /_inspect/razorpay/{what}` for the Razorpay additions, or null when not one. */
export function razorpayInspect(vendor: RazorpayVendor, what: string, url: URL): Response | null {
  if (what === "deliveries") {
    const eventId = url.searchParams.get("eventId");
    const event = url.searchParams.get("event");
    return json(
      vendor.webhooks.deliveries.filter((d) =>
        (eventId === null || d.eventId === eventId) && (event === null || d.event === event)
      ),
    );
  }
  if (what === "events") {
    return json([...vendor.webhooks.events.values()].map((e) => ({
      id: e.id,
      event: e.event,
      createdAt: e.createdAt,
      secretVersion: e.secretVersion,
      body: e.body,
    })));
  }
  return null;
}
