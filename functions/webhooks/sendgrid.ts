// POST /webhooks/sendgrid: SendGrid's Event Webhook (VENDORS.md §9), a JSON array of events
// signed with ECDSA P-256 over the timestamp header followed by the raw body
// (X-Twilio-Email-Event-Webhook-Signature / -Timestamp), verified with
// SENDGRID_WEBHOOK_PUBLIC_KEY before parsing, with a 300 s tolerance on the timestamp.
import { z } from "zod";
import { createRouter } from "../_shared/app.ts";
import { log } from "../_shared/log.ts";
import { classifyVendorError } from "../_shared/providers/mod.ts";
import { unsubscribedAddressDrop } from "../_shared/providers/sendgrid.ts";
import { acceptedSecrets, logSecretMatch, matchSecret } from "../_shared/secrets.ts";
import { verifySendgridSignature } from "../_shared/signatures/sendgrid.ts";
import {
  emailAddress,
  type EventStatus,
  malformed,
  notConfigured,
  ourMessageId,
  signatureRefused,
  unixSecondsToIso,
  type VendorEvent,
  type WebhookDeps,
} from "./events.ts";

/**
 * SendGrid's event words → ours. deferred, click, spamreport, unsubscribe, group_unsubscribe and
 * group_resubscribe move no message (a spam report suppresses the address, an unsubscribe
 * withdraws email marketing consent; see sendgridEvents). group_resubscribe is only kept: a
 * consent is granted with its notice and evidence, not by a vendor's event.
 */
const sendgridStatuses: Readonly<Record<string, EventStatus>> = {
  processed: "sent",
  delivered: "delivered",
  open: "read",
  bounce: "undeliverable",
  dropped: "failed",
};

const eventSchema = z.looseObject({
  event: z.string().min(1).max(40),
  sg_event_id: z.string().min(1).max(200),
  sg_message_id: z.string().max(300).optional(),
  email: z.string().max(320).optional(),
  timestamp: z.number().int().nonnegative().optional(),
  message_id: z.string().optional(),
  type: z.string().optional(),
  reason: z.string().optional(),
  status: z.string().optional(),
});

const bodySchema = z.array(eventSchema);

/** SendGrid's events that say the person opted out of our email (README: an opt-out withdraws
 * marketing consent; it does not suppress). */
const unsubscribeEvents = new Set(["unsubscribe", "group_unsubscribe"]);

/**
 * The events of one verified SendGrid post (already parsed): processed → sent, delivered →
 * delivered, open → read, bounce → undeliverable, dropped → failed; a bounce, a dropped event
 * whose reason means a dead address (both through SendGrid's error table: `event.bounce`,
 * `event.bounce.blocked`, `event.dropped`: Bounced Address, Invalid, Spam Reporting Address) and
 * a spam report suppress the lower-cased email (hard_bounce, complaint). An unsubscribe, a
 * group_unsubscribe and a drop for an "Unsubscribed Address" are the person's opt-out: they
 * suppress nothing and carry `opt_out` (email marketing consent withdrawn). Event key:
 * sg_event_id; the vendor's id: sg_message_id up to its first "."; our id: the top-level
 * `message_id` (SendGrid spreads custom_args into each event). Throws the 400 problem when the
 * body is not an array of events.
 */
export function sendgridEvents(body: unknown): VendorEvent[] {
  const parsed = bodySchema.safeParse(body);
  if (!parsed.success) throw malformed("Not an array of SendGrid events.");
  return parsed.data.map((event) => {
    const kind = event.event;
    const address = event.email ? emailAddress(event.email) : null;
    const result: VendorEvent = {
      event_key: event.sg_event_id,
      kind: "status",
      message_id: ourMessageId(event.message_id),
      provider_message_id: event.sg_message_id ? event.sg_message_id.split(".")[0] : null,
      status: sendgridStatuses[kind] ?? null,
      vendor_status: kind,
      occurred_at: unixSecondsToIso(event.timestamp),
      payload: event,
    };
    if (kind === "bounce" || kind === "dropped") {
      const code = kind === "bounce" && event.type === "blocked"
        ? "event.bounce.blocked"
        : `event.${kind}`;
      const failure = classifyVendorError("sendgrid", code, event.reason ?? "");
      result.error_code = event.status ?? code;
      result.error = (event.reason ?? failure.message).slice(0, 500);
      if (failure.addressDead && address) {
        Object.assign(result, { suppress: "hard_bounce", address, channel: "email" });
      }
    }
    if (kind === "spamreport" && address) {
      Object.assign(result, { suppress: "complaint", address, channel: "email" });
    }
    const optedOut = unsubscribeEvents.has(kind) ||
      (kind === "dropped" && unsubscribedAddressDrop.test(event.reason ?? ""));
    if (optedOut && address) {
      Object.assign(result, { opt_out: true, address, channel: "email" });
    }
    return result;
  });
}

/** The /sendgrid route. */
export function sendgridRoutes(deps: WebhookDeps) {
  return createRouter().post("/sendgrid", async (c) => {
    // The verification key, and after SendGrid regenerated it the previous one (until _UNTIL).
    const publicKeys = acceptedSecrets(deps.config(), "SENDGRID_WEBHOOK_PUBLIC_KEY");
    if (!publicKeys.current) throw notConfigured("SendGrid", "SENDGRID_WEBHOOK_PUBLIC_KEY");
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const signature = c.req.header("x-twilio-email-event-webhook-signature") ?? null;
    const timestamp = c.req.header("x-twilio-email-event-webhook-timestamp") ?? null;
    const matched = await matchSecret(
      publicKeys,
      (key) => verifySendgridSignature(key, signature, timestamp, raw),
    );
    if (!matched) {
      log("warn", "webhook refused", { vendor: "sendgrid", reason: "signature or timestamp" });
      throw signatureRefused("SendGrid");
    }
    logSecretMatch("sendgrid", publicKeys.name, matched);
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
    } catch {
      throw malformed("The body is not UTF-8 JSON.");
    }
    const events = sendgridEvents(body);
    if (events.length > 0) await deps.record("sendgrid", events);
    return c.body(null, 200);
  });
}
