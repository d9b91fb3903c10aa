// /webhooks/whatsapp: the WhatsApp Cloud API's webhook (VENDORS.md §3). GET answers Meta's verify
// handshake with WHATSAPP_VERIFY_TOKEN; POST takes status updates of our messages and the
// customers' inbound messages, signed with X-Hub-Signature-256 (HMAC-SHA256 of the raw body with
// WHATSAPP_APP_SECRET), checked on the bytes as received before any parsing. During a rotation
// the previous app secret and verify token are accepted too (_PREVIOUS, until _PREVIOUS_UNTIL).
import { z } from "zod";
import { createRouter } from "../_shared/app.ts";
import { ProblemError } from "../_shared/errors.ts";
import { log } from "../_shared/log.ts";
import { classifyVendorError } from "../_shared/providers/mod.ts";
import { acceptedSecrets, logSecretMatch, matchSecret } from "../_shared/secrets.ts";
import { timingSafeEqualText } from "../_shared/signatures/compare.ts";
import { verifyWhatsappSignature } from "../_shared/signatures/whatsapp.ts";
import {
  type EventStatus,
  malformed,
  notConfigured,
  ourMessageId,
  signatureRefused,
  unixSecondsToIso,
  type VendorEvent,
  type WebhookDeps,
} from "./events.ts";

/** Meta's status words → ours; anything else (deleted, warning, ...) only informs. */
const whatsappStatuses: Readonly<Record<string, EventStatus>> = {
  sent: "sent",
  delivered: "delivered",
  read: "read",
  failed: "failed",
};

/** The WhatsApp template categories MESSAGE_RATES_PAISE prices (`whatsapp_<category>`). */
const pricedCategories = new Set(["utility", "marketing", "authentication", "service"]);

const statusSchema = z.looseObject({
  id: z.string().min(1).max(200),
  status: z.string().min(1).max(40),
  timestamp: z.union([z.string(), z.number()]).optional(),
  recipient_id: z.string().max(32).optional(),
  biz_opaque_callback_data: z.string().optional(),
  pricing: z.looseObject({
    billable: z.boolean().optional(),
    category: z.string().optional(),
    pricing_model: z.string().optional(),
    type: z.string().optional(),
  }).optional(),
  errors: z.array(z.looseObject({
    code: z.union([z.number(), z.string()]),
    title: z.string().optional(),
    message: z.string().optional(),
    error_data: z.looseObject({ details: z.string().optional() }).optional(),
  })).optional(),
});

const inboundSchema = z.looseObject({
  from: z.string().regex(/^[0-9]{6,15}$/),
  id: z.string().min(1).max(200),
  timestamp: z.union([z.string(), z.number()]).optional(),
  type: z.string().optional(),
  text: z.looseObject({ body: z.string() }).optional(),
  button: z.looseObject({ text: z.string().optional() }).optional(),
  interactive: z.looseObject({
    button_reply: z.looseObject({ title: z.string().optional() }).optional(),
    list_reply: z.looseObject({ title: z.string().optional() }).optional(),
  }).optional(),
});

const webhookSchema = z.object({
  object: z.string(),
  entry: z.array(z.object({
    changes: z.array(z.object({
      field: z.string().optional(),
      value: z.looseObject({
        statuses: z.array(statusSchema).optional(),
        messages: z.array(inboundSchema).optional(),
      }),
    })),
  })),
});

type WhatsappStatus = z.infer<typeof statusSchema>;

/** The cost a status reports: 0 when not billable, else the category's rate (cost_rate). */
function costOf(status: WhatsappStatus): Pick<VendorEvent, "cost_paise" | "cost_rate"> {
  const pricing = status.pricing;
  if (!pricing) return {};
  if (pricing.billable === false || pricing.type?.startsWith("free")) return { cost_paise: 0 };
  const category = pricing.category?.toLowerCase();
  return category && pricedCategories.has(category) ? { cost_rate: `whatsapp_${category}` } : {};
}

/** One status update → its event; a failure whose code means a dead number suppresses it. */
function statusEvent(status: WhatsappStatus): VendorEvent {
  const event: VendorEvent = {
    event_key: `${status.id}:${status.status}`,
    kind: "status",
    message_id: ourMessageId(status.biz_opaque_callback_data),
    provider_message_id: status.id,
    status: whatsappStatuses[status.status] ?? null,
    vendor_status: status.status,
    occurred_at: unixSecondsToIso(status.timestamp),
    payload: status,
    ...costOf(status),
  };
  const error = status.errors?.[0];
  if (error) {
    const code = String(error.code);
    const failure = classifyVendorError("whatsapp_cloud", code);
    event.error_code = code;
    event.error = [error.title ?? error.message, error.error_data?.details]
      .filter(Boolean).join(": ") || failure.message;
    if (failure.disposition === "fallback") event.fallback = true;
    if (failure.addressDead && status.recipient_id && /^[0-9]{6,15}$/.test(status.recipient_id)) {
      event.suppress = "invalid_number";
      event.address = `+${status.recipient_id}`;
      event.channel = "whatsapp";
    }
  }
  return event;
}

/** The text a customer sent: a text body, a quick-reply button, or an interactive reply. */
function replyText(message: z.infer<typeof inboundSchema>): string | null {
  return message.text?.body ?? message.button?.text ??
    message.interactive?.button_reply?.title ?? message.interactive?.list_reply?.title ?? null;
}

/**
 * The events of one verified WhatsApp webhook body (already parsed): each status update of
 * `value.statuses[]` (event wamid:status; our id from biz_opaque_callback_data; sent, delivered,
 * read, failed with errors[0].code; pricing as the cost) and each inbound message of
 * `value.messages[]` (event = its wamid; from `+digits`; its text). Throws the 400 problem when
 * the body is not a WhatsApp Business Account webhook.
 */
export function whatsappEvents(body: unknown): VendorEvent[] {
  const parsed = webhookSchema.safeParse(body);
  if (!parsed.success || parsed.data.object !== "whatsapp_business_account") {
    throw malformed("Not a WhatsApp Business Account webhook.");
  }
  const events: VendorEvent[] = [];
  for (const entry of parsed.data.entry) {
    for (const change of entry.changes) {
      for (const status of change.value.statuses ?? []) events.push(statusEvent(status));
      for (const message of change.value.messages ?? []) {
        events.push({
          event_key: message.id,
          kind: "inbound",
          provider_message_id: message.id,
          status: null,
          vendor_status: "received",
          occurred_at: unixSecondsToIso(message.timestamp),
          address: `+${message.from}`,
          channel: "whatsapp",
          reply: replyText(message),
          payload: message,
        });
      }
    }
  }
  return events;
}

/** The /whatsapp routes: GET (the verify handshake) and POST (events). */
export function whatsappRoutes(deps: WebhookDeps) {
  return createRouter()
    .get("/whatsapp", async (c) => {
      const verifyTokens = acceptedSecrets(deps.config(), "WHATSAPP_VERIFY_TOKEN");
      if (!verifyTokens.current) throw notConfigured("WhatsApp", "WHATSAPP_VERIFY_TOKEN");
      const mode = c.req.query("hub.mode");
      const token = c.req.query("hub.verify_token") ?? "";
      const challenge = c.req.query("hub.challenge");
      const matched = await matchSecret(
        verifyTokens,
        (expected) => timingSafeEqualText(token, expected),
      );
      if (mode !== "subscribe" || !challenge || !matched) {
        throw new ProblemError(403, "Forbidden", "The verify token does not match.");
      }
      logSecretMatch("whatsapp_cloud", verifyTokens.name, matched);
      return c.body(challenge, 200, { "content-type": "text/plain; charset=utf-8" });
    })
    .post("/whatsapp", async (c) => {
      const appSecrets = acceptedSecrets(deps.config(), "WHATSAPP_APP_SECRET");
      if (!appSecrets.current) throw notConfigured("WhatsApp", "WHATSAPP_APP_SECRET");
      const raw = new Uint8Array(await c.req.arrayBuffer());
      const signature = c.req.header("x-hub-signature-256") ?? null;
      const matched = await matchSecret(
        appSecrets,
        (secret) => verifyWhatsappSignature(secret, signature, raw),
      );
      if (!matched) {
        log("warn", "webhook refused", { vendor: "whatsapp_cloud", reason: "signature" });
        throw signatureRefused("WhatsApp");
      }
      logSecretMatch("whatsapp_cloud", appSecrets.name, matched);
      let body: unknown;
      try {
        body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
      } catch {
        throw malformed("The body is not UTF-8 JSON.");
      }
      const events = whatsappEvents(body);
      if (events.length > 0) await deps.record("whatsapp_cloud", events);
      return c.body(null, 200);
    });
}
