// /webhooks/razorpay: Razorpay's payment, order, payment-link and refund events (VENDORS.md §4).
// X-Razorpay-Signature is the hex HMAC-SHA256 of the raw body with the webhook secret (not the
// key secret), checked on the bytes as received before anything is parsed; during a rotation the
// previous secret is accepted too, because Razorpay keeps signing retries of older events with
// it. X-Razorpay-Event-Id stays the same across retries: private.ingest_razorpay_event stores it
// under a unique constraint in the same transaction that applies the event, so a redelivery,
// however many arrive at once, changes nothing. Every accepted delivery is answered 200 at once,
// also a duplicate or an event kept for review (a non-2xx is retried for 24 hours, then Razorpay
// disables the webhook); a database failure answers 503 so that Razorpay retries.
import { z } from "zod";
import { createRouter } from "../_shared/app.ts";
import { asServiceInOneTrip } from "../_shared/db.ts";
import { log } from "../_shared/log.ts";
import { acceptedSecrets, logSecretMatch } from "../_shared/secrets.ts";
import { verifyWebhookSignature } from "../_shared/signatures/razorpay.ts";
import { malformed, notConfigured, signatureRefused, type WebhookDeps } from "./events.ts";

/** What private.ingest_razorpay_event did with an event. */
export type IngestOutcome = "applied" | "duplicate" | "kept_for_review" | "ignored" | "unmatched";

/**
 * Stores and applies one verified Razorpay event in one transaction (service_role):
 * `eventId` is X-Razorpay-Event-Id, `body` the parsed envelope, `signedWith` which secret matched.
 */
export type IngestRazorpayEvent = (
  eventId: string,
  body: unknown,
  signedWith: "current" | "previous",
) => Promise<IngestOutcome>;

/**
 * The default ingest: `private.ingest_razorpay_event(event_id, body, signed_with)` as
 * service_role, one statement in one round trip (asServiceInOneTrip: the event is one
 * transaction either way; four round trips cost a fifth of the rate, bench/payments.ts).
 */
export const ingestRazorpayEvent: IngestRazorpayEvent = async (eventId, body, signedWith) => {
  const [row] = await asServiceInOneTrip<{ outcome: IngestOutcome }[]>`
    select outcome from private.ingest_razorpay_event(
      ${eventId}, ${body as object}::jsonb, ${signedWith})`;
  return row.outcome;
};

/** Razorpay's event envelope; the payload's entities are read by the database. */
const envelopeSchema = z.looseObject({
  entity: z.literal("event"),
  event: z.string().min(1).max(100),
  payload: z.record(z.string(), z.unknown()),
  created_at: z.number().int().nonnegative(),
});

/** Razorpay's event ids (`evt_` and 14 alphanumerics); a little room beyond today's length. */
const eventIdPattern = /^[A-Za-z0-9_]{1,64}$/;

/** The /razorpay route; `ingest` replaces the database call in tests. */
export function razorpayRoutes(
  deps: WebhookDeps,
  ingest: IngestRazorpayEvent = ingestRazorpayEvent,
) {
  return createRouter().post("/razorpay", async (c) => {
    // The previous secret only until RAZORPAY_WEBHOOK_SECRET_PREVIOUS_UNTIL, when that is set.
    const { current, previous } = acceptedSecrets(deps.config(), "RAZORPAY_WEBHOOK_SECRET");
    if (!current) throw notConfigured("Razorpay", "RAZORPAY_WEBHOOK_SECRET");
    // The bytes as sent: a BOM kept, invalid UTF-8 refused (it cannot have been signed text).
    let raw: string;
    try {
      raw = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
        .decode(await c.req.arrayBuffer());
    } catch {
      throw signatureRefused("Razorpay");
    }
    const signedWith = await verifyWebhookSignature(
      raw,
      c.req.header("x-razorpay-signature") ?? null,
      { current, previous },
    );
    if (!signedWith) {
      log("warn", "webhook refused", { vendor: "razorpay", reason: "signature" });
      throw signatureRefused("Razorpay");
    }
    logSecretMatch("razorpay", "RAZORPAY_WEBHOOK_SECRET", signedWith);
    const eventId = c.req.header("x-razorpay-event-id") ?? "";
    if (!eventIdPattern.test(eventId)) throw malformed("X-Razorpay-Event-Id is missing.");
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw malformed("The body is not JSON.");
    }
    const envelope = envelopeSchema.safeParse(body);
    if (!envelope.success) throw malformed("Not a Razorpay event.");
    const outcome = await ingest(eventId, envelope.data, signedWith);
    if (outcome !== "applied" && outcome !== "duplicate") {
      log("info", "razorpay event not applied", {
        event_id: eventId,
        event: envelope.data.event,
        outcome,
      });
    }
    return c.json({ outcome }, 200);
  });
}
