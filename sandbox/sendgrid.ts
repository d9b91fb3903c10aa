// SendGrid v3 mail send, as the sandbox plays it (VENDORS.md §9): POST /sendgrid/v3/mail/send
// with a Bearer key → 202, empty body, X-Message-Id; errors {errors:[{message, field, help}]};
// X-RateLimit-Limit/-Remaining/-Reset (a Unix timestamp) on every answer, 429 "too many
// requests" beyond the limit. Event webhook: JSON arrays (processed, delivered, bounce, dropped,
// deferred, spamreport, open) with sg_event_id, sg_message_id (X-Message-Id + ".filter…") and
// the custom_args, signed with ECDSA P-256 (X-Twilio-Email-Event-Webhook-Signature/-Timestamp).

import type { Delivery } from "./callbacks.ts";
import { bearer, isEmail, json, sameSecret } from "./http.ts";
import { sendgridEventId, sendgridEventMessageId, sendgridMessageId } from "./ids.ts";
import { simulatedOutcome } from "./ses_events.ts";
import { sendgridSignature } from "./sign.ts";
import { type CallbackMode, type RateCheck, sleep, type VendorState } from "./state.ts";
import type { SandboxContext } from "./types.ts";

/** The X-RateLimit-Limit shown when the control API set no limit. */
const unlimited = 600;
const help = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html";

/** Event types the sandbox emits, and the ones failNext may force through the webhook. */
type SendgridEvent =
  | "processed"
  | "delivered"
  | "bounce"
  | "dropped"
  | "deferred"
  | "spamreport"
  | "open";
const forcedEvents = new Set(["bounce", "dropped", "deferred", "spamreport", "blocked"]);

/** Generic messages for a status forced by failNext with a numeric code. */
const statusMessages: Record<number, string> = {
  400: "Bad Request",
  401: "The provided authorization grant is invalid, expired, or revoked",
  403: "access forbidden",
  404: "not found",
  413: "The JSON payload you have included in your request is too large.",
  429: "too many requests",
  500: "internal error",
  503: "service unavailable",
};

interface SendgridError {
  message: string;
  field: string | null;
  help: string | null;
}

/** What one personalization's recipient is sent, for the events. */
interface Recipient {
  email: string;
  customArgs: Record<string, string>;
  categories?: string[];
}

/** The SendGrid vendor: v3 mail send and its signed Event Webhook posts. */
export class SendgridVendor {
  constructor(private ctx: SandboxContext, private state: VendorState) {}

  /** The X-RateLimit-* headers of a rate check. */
  private rateHeaders(rate: RateCheck): Record<string, string> {
    const limit = rate.limit ?? unlimited;
    return {
      "x-ratelimit-limit": String(limit),
      "x-ratelimit-remaining": String(rate.remaining ?? Math.max(0, limit - 1)),
      "x-ratelimit-reset": String(rate.reset),
    };
  }

  private errors(status: number, errors: SendgridError[], headers: Record<string, string> = {}) {
    return json({ errors }, status, headers);
  }

  /** Handles a request under /sendgrid; `path` is what follows the prefix. */
  async handle(request: Request, path: string): Promise<Response> {
    const faults = this.state.faults;
    if (faults.outage) {
      return this.errors(503, [{ field: null, message: statusMessages[503], help: null }]);
    }
    // The request is in before the latency: a client that gives up waiting has still sent it.
    const raw = await request.text();
    await sleep(faults.latencyMs);
    const key = bearer(request.headers.get("authorization"));
    if (!key) {
      return this.errors(401, [{ field: null, message: "authorization required", help: null }]);
    }
    if (!sameSecret(key, this.ctx.credentials.sendgridApiKey)) {
      return this.errors(401, [{ field: null, message: statusMessages[401], help: null }]);
    }
    const rate = this.state.checkRate();
    const headers = this.rateHeaders(rate);
    if (path !== "/v3/mail/send") {
      return this.errors(404, [{ field: null, message: "not found", help: null }], headers);
    }
    if (request.method !== "POST") {
      return this.errors(
        405,
        [{ field: null, message: "method not allowed", help: null }],
        headers,
      );
    }
    if (rate.limited) {
      return this.errors(429, [{ field: null, message: "too many requests", help: null }], headers);
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return this.errors(400, [{
        field: null,
        message: "Bad Request",
        help: null,
      }], headers);
    }
    const invalid = validate(body);
    if (invalid.length > 0) return this.errors(400, invalid, headers);
    const mail = body as MailSend;

    const fail = this.state.takeFailNext();
    const failLater = fail !== null &&
      (fail.via === "callback" || forcedEvents.has(String(fail.code)));
    if (fail && !failLater) {
      const status = fail.status ?? (Number(fail.code) || 400);
      return this.errors(status, [{
        field: null,
        message: statusMessages[status] ?? String(fail.code),
        help: null,
      }], headers);
    }
    if (this.state.randomFailure()) {
      return this.errors(500, [{ field: null, message: statusMessages[500], help: null }], headers);
    }
    if (mail.mail_settings?.sandbox_mode?.enable === true) {
      return new Response(null, { status: 200, headers });
    }

    const messageId = sendgridMessageId();
    const recipients: Recipient[] = mail.personalizations.flatMap((p) =>
      [...p.to, ...(p.cc ?? []), ...(p.bcc ?? [])].map((to) => ({
        email: to.email,
        customArgs: { ...(mail.custom_args ?? {}), ...(p.custom_args ?? {}) },
        categories: mail.categories,
      }))
    );
    const ourId = recipients[0]?.customArgs.message_id;
    this.state.requests.push({
      id: messageId,
      receivedAt: new Date().toISOString(),
      to: recipients.map((r) => r.email).join(", "),
      subject: mail.personalizations[0].subject ?? mail.subject,
      body: mail.content?.find((c) => c.type === "text/plain")?.value ?? mail.content?.[0]?.value,
      template: mail.template_id,
      params: mail,
      ourId,
    });
    const url = this.ctx.webhooks.sendgrid;
    if (url) {
      const forced = failLater ? String(fail!.code) : null;
      this.ctx.callbacks.schedule(
        this.state,
        (mode) => this.events(mode, url, messageId, recipients, forced),
        { retries: 3, backoffMs: 200 },
      );
    }
    return new Response(null, { status: 202, headers: { ...headers, "x-message-id": messageId } });
  }

  /** The webhook posts of a send for a callback mode: per recipient, in SendGrid's order. */
  private events(
    mode: CallbackMode,
    url: string,
    messageId: string,
    recipients: Recipient[],
    forced: string | null,
  ): Delivery[] {
    const sgMessageId = sendgridEventMessageId(messageId);
    return recipients.flatMap((recipient) => {
      const outcome = forced ?? simulatedOutcome(recipient.email);
      const kinds: SendgridEvent[] = mode === "read_without_delivered"
        ? ["processed", "open"]
        : outcome === "bounce" || outcome === "blocked"
        ? ["processed", "bounce"]
        : outcome === "suppressed" || outcome === "dropped"
        ? ["processed", "dropped"]
        : outcome === "deferred"
        ? ["processed", "deferred"]
        : outcome === "complaint" || outcome === "spamreport"
        ? ["processed", "delivered", "spamreport"]
        : ["processed", "delivered"];
      return kinds.map((kind) =>
        this.delivery(url, messageId, sgMessageId, recipient, kind, outcome === "blocked")
      );
    });
  }

  private delivery(
    url: string,
    messageId: string,
    sgMessageId: string,
    recipient: Recipient,
    kind: SendgridEvent,
    blocked: boolean,
  ): Delivery {
    return {
      event: kind,
      url,
      providerMessageId: messageId,
      build: async () => {
        const event: Record<string, unknown> = {
          email: recipient.email,
          timestamp: Math.floor(Date.now() / 1000),
          "smtp-id": `<${messageId}@geopod-ismtpd-5-0>`,
          event: kind,
          ...(recipient.categories ? { category: recipient.categories } : {}),
          sg_event_id: sendgridEventId(),
          sg_message_id: sgMessageId,
          ...recipient.customArgs,
        };
        if (kind === "delivered") Object.assign(event, { response: "250 2.0.0 OK", tls: 1 });
        if (kind === "bounce") {
          Object.assign(
            event,
            blocked
              ? {
                reason: "550 5.7.1 Message rejected due to local policy",
                status: "5.7.1",
                type: "blocked",
                bounce_classification: "Reputation",
              }
              : {
                reason: "550 5.1.1 The email account that you tried to reach does not exist.",
                status: "5.1.1",
                type: "bounce",
                bounce_classification: "Invalid Address",
              },
          );
        }
        if (kind === "dropped") {
          Object.assign(event, { reason: "Bounced Address", status: "5.0.0" });
        }
        if (kind === "deferred") {
          Object.assign(event, { response: "451 4.7.1 Try again later", attempt: "1" });
        }
        if (kind === "open") {
          Object.assign(event, {
            useragent: "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36",
            ip: "192.0.2.1",
            sg_machine_open: false,
          });
        }
        if (kind !== "processed" && kind !== "dropped") event.ip = "149.72.123.24";
        const body = JSON.stringify([event]) + "\r\n";
        const timestamp = String(Math.floor(Date.now() / 1000));
        const signature = await sendgridSignature(this.ctx.sendgridKey.privateKey, timestamp, body);
        return {
          headers: {
            "content-type": "application/json",
            "user-agent": "SendGrid Event API",
            "x-twilio-email-event-webhook-signature": signature,
            "x-twilio-email-event-webhook-timestamp": timestamp,
          },
          body,
        };
      },
    };
  }
}

/** The parts of a v3 mail send body the sandbox reads. */
interface MailSend {
  personalizations: Array<{
    to: Array<{ email: string; name?: string }>;
    cc?: Array<{ email: string }>;
    bcc?: Array<{ email: string }>;
    subject?: string;
    custom_args?: Record<string, string>;
  }>;
  from: { email: string; name?: string };
  subject?: string;
  content?: Array<{ type: string; value: string }>;
  template_id?: string;
  categories?: string[];
  custom_args?: Record<string, string>;
  mail_settings?: { sandbox_mode?: { enable?: boolean } };
}

/** SendGrid's validation of a mail send body, with its messages; empty when valid. */
function validate(body: unknown): SendgridError[] {
  const errors: SendgridError[] = [];
  const add = (field: string, message: string, anchor: string) =>
    errors.push({ field, message, help: `${help}#${anchor}` });
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    add("", "Bad Request", "message.body");
    return errors;
  }
  const mail = body as Record<string, unknown>;
  const personalizations = mail.personalizations;
  if (!Array.isArray(personalizations) || personalizations.length === 0) {
    add(
      "personalizations",
      "The personalizations field is required and must have at least one personalization.",
      "-Personalizations-Errors",
    );
  } else if (personalizations.length > 1000) {
    add(
      "personalizations",
      "The personalizations field must not have more than 1000 personalizations.",
      "-Personalizations-Errors",
    );
  } else {
    personalizations.forEach((p, i) => {
      const to = (p as Record<string, unknown>)?.to;
      if (!Array.isArray(to) || to.length === 0) {
        add(
          `personalizations.${i}.to`,
          "The to array is required for all personalization objects, and must have at least " +
            "one email object with a valid email address.",
          "message.personalizations.to",
        );
        return;
      }
      for (const list of ["to", "cc", "bcc"]) {
        const entries = (p as Record<string, unknown>)[list];
        if (entries === undefined) continue;
        (entries as Array<{ email?: unknown }>).forEach((entry, j) => {
          if (typeof entry?.email !== "string" || !isEmail(entry.email)) {
            add(
              `personalizations.${i}.${list}.${j}.email`,
              "Does not contain a valid address.",
              `message.personalizations.${list}`,
            );
          }
        });
      }
      const args = (p as Record<string, unknown>).custom_args;
      if (args !== undefined && !stringRecord(args)) {
        add(
          `personalizations.${i}.custom_args`,
          "Invalid type. Expected: string, given: object.",
          "message.personalizations.custom_args",
        );
      }
    });
  }
  const from = mail.from as Record<string, unknown> | undefined;
  if (typeof from?.email !== "string" || !isEmail(from.email)) {
    add(
      "from.email",
      "The from object must be provided for every email send. It is an object that requires " +
        "the email parameter, but may also contain a name parameter.",
      "message.from",
    );
  }
  const templated = typeof mail.template_id === "string" && mail.template_id !== "";
  const everySubject = Array.isArray(personalizations) && personalizations.length > 0 &&
    personalizations.every((p) => typeof (p as Record<string, unknown>)?.subject === "string");
  if (!templated && !everySubject && (typeof mail.subject !== "string" || mail.subject === "")) {
    add(
      "subject",
      "The subject is required. You can get around this requirement if you use a template " +
        "with a subject defined or if every personalization has a subject defined.",
      "message.subject",
    );
  }
  const content = mail.content;
  if (!templated && (!Array.isArray(content) || content.length === 0)) {
    add(
      "content",
      "Unless a valid template_id is provided, the content parameter is required. There must " +
        "be at least one defined content block. We typically suggest both text/plain and " +
        "text/html blocks are included, but only one block is required.",
      "message.content",
    );
  } else if (Array.isArray(content)) {
    content.forEach((block, i) => {
      const value = (block as Record<string, unknown>)?.value;
      if (typeof value !== "string" || value.length === 0) {
        add(
          `content.${i}.value`,
          "The content value must be a string at least one character in length.",
          "message.content.value",
        );
      }
    });
  }
  if (mail.custom_args !== undefined && !stringRecord(mail.custom_args)) {
    add("custom_args", "Invalid type. Expected: string, given: object.", "message.custom_args");
  }
  return errors;
}

function stringRecord(value: unknown): value is Record<string, string> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string");
}
