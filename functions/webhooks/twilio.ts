// POST /webhooks/twilio: Twilio's status callbacks (to the StatusCallback of each send, which
// carries our message id as the query `message_id`) and inbound SMS (From, Body). Form-encoded,
// signed with X-Twilio-Signature over the exact public URL and every form field (VENDORS.md §1).
// Twilio gives status callbacks no event id, so an event is MessageSid:MessageStatus; callbacks
// may come twice or out of order, which private.record_message_events absorbs. During a rotation
// of the Auth Token the previous one is accepted too (TWILIO_AUTH_TOKEN_PREVIOUS, until _UNTIL).
import { z } from "zod";
import { createRouter } from "../_shared/app.ts";
import { log } from "../_shared/log.ts";
import { classifyVendorError } from "../_shared/providers/mod.ts";
import { acceptedSecrets, logSecretMatch, matchSecret } from "../_shared/secrets.ts";
import { twilioParamsFromForm, verifyTwilioSignature } from "../_shared/signatures/twilio.ts";
import {
  e164,
  type EventStatus,
  malformed,
  notConfigured,
  ourMessageId,
  signatureRefused,
  type VendorEvent,
  type WebhookDeps,
} from "./events.ts";

/**
 * Twilio's MessageStatus → ours. queued, accepted and sending mean Twilio has the message: our
 * `sent` (the vendor accepted it), which also tells a dispatcher that lost its lease not to send
 * it again; scheduled (and anything new) only informs: null. undelivered is the carrier's refusal
 * (undeliverable), failed is Twilio's own.
 */
export const twilioStatuses: Readonly<Record<string, EventStatus>> = {
  queued: "sent",
  accepted: "sent",
  sending: "sent",
  sent: "sent",
  delivered: "delivered",
  read: "read",
  undelivered: "undeliverable",
  failed: "failed",
};

/** The fields we read; the rest of the form is stored as it came. */
const formSchema = z.object({
  MessageSid: z.string().min(1).max(64),
  MessageStatus: z.string().min(1).max(40).optional(),
  ErrorCode: z.string().max(20).optional(),
  To: z.string().max(64).optional(),
  From: z.string().max(64).optional(),
  Body: z.string().max(10_000).optional(),
});

/** An inbound message's status words (Twilio posts SmsStatus=received, and no MessageStatus). */
const inboundStatuses = new Set(["received", "receiving"]);

/** A number as Twilio writes it (`+9198…`, `whatsapp:+9198…`): its channel and E.164 address. */
function addressOf(value: string | undefined): { channel: "sms" | "whatsapp"; address: string } {
  const raw = value ?? "";
  const whatsapp = raw.startsWith("whatsapp:");
  const address = whatsapp ? raw.slice("whatsapp:".length) : raw;
  return { channel: whatsapp ? "whatsapp" : "sms", address };
}

/**
 * The events of one Twilio post (its form fields, and our message id from the callback URL's
 * query): a status callback, or an inbound message. Throws the 400 problem when the form is
 * neither. A status with an ErrorCode that Twilio's error table says means a dead number
 * (classifyVendorError, addressDead) suppresses the `To` address as invalid_number; 21610 (the
 * customer replied STOP to Twilio) is Twilio's refusal, not a dead number, and suppresses nothing.
 */
export function twilioEvents(
  params: Record<string, string | string[]>,
  messageIdInQuery: string | null,
): { inbound: boolean; events: VendorEvent[] } {
  const single = Object.fromEntries(
    Object.entries(params).map(([name, value]) => [name, Array.isArray(value) ? value[0] : value]),
  );
  const parsed = formSchema.safeParse(single);
  if (!parsed.success) throw malformed("Not a Twilio status callback or inbound message.");
  const form = parsed.data;
  const smsStatus = typeof single.SmsStatus === "string" ? single.SmsStatus : undefined;
  const vendorStatus = form.MessageStatus ?? smsStatus;

  if (vendorStatus !== undefined && !inboundStatuses.has(vendorStatus)) {
    const status = twilioStatuses[vendorStatus] ?? null;
    const to = addressOf(form.To);
    const event: VendorEvent = {
      event_key: `${form.MessageSid}:${vendorStatus}`,
      kind: "status",
      message_id: ourMessageId(messageIdInQuery),
      provider_message_id: form.MessageSid,
      status,
      vendor_status: vendorStatus,
      payload: params,
    };
    if (form.ErrorCode && form.ErrorCode !== "0") {
      const failure = classifyVendorError("twilio", form.ErrorCode);
      event.error_code = form.ErrorCode;
      event.error = failure.message;
      if (failure.addressDead && e164.test(to.address)) {
        event.suppress = "invalid_number";
        event.address = to.address;
        event.channel = to.channel;
      }
    }
    return { inbound: false, events: [event] };
  }

  if (form.Body !== undefined && form.From) {
    const from = addressOf(form.From);
    return {
      inbound: true,
      events: [{
        event_key: form.MessageSid,
        kind: "inbound",
        provider_message_id: form.MessageSid,
        status: null,
        vendor_status: vendorStatus ?? "received",
        address: from.address,
        channel: from.channel,
        reply: form.Body,
        payload: params,
      }],
    };
  }
  throw malformed("A Twilio post needs MessageStatus (a status callback) or From and Body.");
}

/** The empty TwiML answer to an inbound message: we reply nothing (Twilio handles STOP). */
const emptyTwiml = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

/** The /twilio route. */
export function twilioRoutes(deps: WebhookDeps) {
  return createRouter().post("/twilio", async (c) => {
    const config = deps.config();
    // The Auth Token, and during a rotation the previous one (until its _UNTIL).
    const tokens = acceptedSecrets(config, "TWILIO_AUTH_TOKEN");
    if (!tokens.current) throw notConfigured("Twilio", "TWILIO_AUTH_TOKEN");
    const requestUrl = new URL(c.req.url);
    // The URL Twilio signed is the public one it was given: our functions' public base, then
    // the path and query exactly as they reached us.
    const publicUrl = `${config.publicFunctionsUrl}${requestUrl.pathname}${requestUrl.search}`;
    const raw = await c.req.text();
    const params = twilioParamsFromForm(new URLSearchParams(raw));
    const signature = c.req.header("x-twilio-signature") ?? null;
    const matched = await matchSecret(
      tokens,
      (token) => verifyTwilioSignature(token, signature, publicUrl, params),
    );
    if (!matched) {
      log("warn", "webhook refused", { vendor: "twilio", reason: "signature", url: publicUrl });
      throw signatureRefused("Twilio");
    }
    logSecretMatch("twilio", tokens.name, matched);
    const { inbound, events } = twilioEvents(params, requestUrl.searchParams.get("message_id"));
    await deps.record("twilio", events);
    if (inbound) return c.body(emptyTwiml, 200, { "content-type": "text/xml; charset=utf-8" });
    return c.body(null, 204);
  });
}
