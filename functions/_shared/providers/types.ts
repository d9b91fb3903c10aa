// The one interface every outbound provider (vendor) implements, and the shape of its error
// tables. The dispatcher sees only these types: which vendor sent a message is data, not code.

/** Codes of the vendors that carry messages, as in table public.vendors. */
export const providerCodes = [
  "twilio",
  "aws_sns",
  "aws_ses",
  "sendgrid",
  "whatsapp_cloud",
  "telegram",
] as const;

/** A vendor that carries messages: `twilio`, `aws_sns`, `aws_ses`, `sendgrid`, `whatsapp_cloud`,
 * `telegram` (the Telegram Bot API, functions/_shared/providers/telegram_bot.ts). */
export type ProviderCode = typeof providerCodes[number];

/** The channels the outbox sends on (a subset of public.channel_type). */
export type MessageChannel = "sms" | "email" | "whatsapp" | "telegram";

/** One WhatsApp template component, passed through to Meta as given (header, body, button). */
export interface WhatsappTemplateComponent {
  type: string;
  sub_type?: string;
  index?: string;
  parameters?: Record<string, unknown>[];
}

/**
 * A message as the dispatcher hands it to a provider.
 * - `id`: our public.messages.id (uuid); it travels with the send (Twilio StatusCallback query
 *   `message_id`, SES tag `message_id`, SendGrid `custom_args.message_id`, WhatsApp
 *   `biz_opaque_callback_data`) so callbacks find the row without the vendor's id.
 * - `to`: E.164 (`+9198…`) for sms and whatsapp, an email address for email, the chat id for
 *   telegram.
 * - `dlt`: India DLT registration (entity id, content-template id, header/sender id), carried
 *   unchanged to the SMS fallback.
 * - `purpose`: marketing SMS goes as SNS `Promotional`, everything else as `Transactional`.
 * - `statusCallbackUrl`: overrides the Twilio status-callback base (our message id is added).
 */
export interface OutboundMessage {
  id: string;
  channel: MessageChannel;
  to: string;
  body?: string;
  subject?: string;
  html?: string;
  whatsapp?: {
    template?: { name: string; language: string; components?: WhatsappTemplateComponent[] };
    text?: string;
    document?: { link: string; filename: string; caption?: string };
  };
  dlt?: { entityId: string; templateId: string; senderId?: string };
  purpose?: "transactional" | "service" | "marketing";
  statusCallbackUrl?: string;
}

/**
 * What the dispatcher does with a failure:
 * - `transient`: retry on the same provider after a backoff (429, 5xx, timeouts, throttling);
 * - `permanent`: fail the message now, on every provider (bad address, unsubscribed, bad content);
 * - `fallback`: this provider cannot send it (its account, route or channel rule refuses), try the
 *   channel's fallback provider at once; never retried on this provider.
 */
export type Disposition = "transient" | "permanent" | "fallback";

/** A failed send, classified. */
export interface SendFailure {
  ok: false;
  disposition: Disposition;
  /** The vendor's own error code (`21211`, `Throttling`, `131047`, `429`), or ours for failures
   * with none: `timeout`, `network`, `aborted`, `http_<status>`, `invalid_response`,
   * `invalid_message`, `no_sender`. */
  code: string;
  /** Why, for the message's last_error text; never holds a credential. */
  message: string;
  /** The vendor's own wait hint in milliseconds (Retry-After, SendGrid X-RateLimit-Reset), or a
   * documented pace (WhatsApp 131056); absent when the vendor gave none. */
  retryAfterMs?: number;
  /** The address can never receive on this channel: feeds public.suppressions. */
  addressDead?: boolean;
  /** The vendor is pacing us (429, throttling); the circuit breaker does not count it. */
  throttled?: boolean;
}

/** The vendor accepted the message (not yet delivered). `costPaise`: what the vendor charged. */
export interface SendSuccess {
  ok: true;
  providerMessageId: string;
  costPaise?: number;
}

/** The outcome of one send. */
export type SendResult = SendSuccess | SendFailure;

/**
 * A vendor able to carry messages on one channel. `send` never throws for a vendor or network
 * failure: it classifies it (a timeout or an abort is `transient`). It rejects only on a bug.
 */
export interface Provider {
  code: ProviderCode;
  channel: MessageChannel;
  send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult>;
}

/** How one vendor error code is handled, and why (the vendor's own words, shortened). */
export interface ErrorRule {
  disposition: Disposition;
  reason: string;
  addressDead?: boolean;
  /** A wait to suggest when the vendor sends none (milliseconds). */
  retryAfterMs?: number;
  /** The vendor is pacing us (429, throttling): not a sign it is down, so the circuit breaker
   * does not count it. */
  throttled?: boolean;
  /** Refinements by the error's text (first match wins), for codes that cover several cases. */
  byMessage?: ReadonlyArray<{ pattern: RegExp; rule: Omit<ErrorRule, "byMessage"> }>;
}

/** One provider's classification table: vendor error code → rule. */
export type ErrorTable = Readonly<Record<string, ErrorRule>>;
