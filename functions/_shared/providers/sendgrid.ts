// SendGrid v3 mail send (email, the fallback behind SES) with fetch: POST {base}/v3/mail/send,
// Bearer API key, JSON; 202 with an empty body and X-Message-Id on success (VENDORS.md §9).
// Our message id travels as custom_args.message_id, which SendGrid copies into every event.
import { classifyError, httpFailure, invalidMessage, invalidResponse } from "./classify.ts";
import { parseJsonObject, rateLimitResetMs, retryAfterMs, withDeadline } from "./http.ts";
import type { ErrorTable, OutboundMessage, Provider, SendResult } from "./types.ts";
import { oneClickUnsubscribeHeaders } from "../withdrawal_link.ts";

/** The reason of a `dropped` event for an address on SendGrid's (global or group) unsubscribe
 * list: the person opted out earlier, the address is alive. */
export const unsubscribedAddressDrop = /unsubscribed address/i;

/**
 * Every SendGrid error status VENDORS.md §9 documents (400/401/403/413/429; SendGrid's errors
 * carry no code of their own, so the HTTP status is the code) and the Event Webhook outcomes the
 * webhooks read (`event.<event>`, `event.bounce.blocked`), with their dispositions. 5xx replies
 * are transient through httpFailure.
 */
export const sendgridErrors: ErrorTable = {
  "400": {
    disposition: "permanent",
    reason: "bad request",
    byMessage: [{
      pattern: /personalizations\.\d+\.to\.\d+\.email/,
      rule: { disposition: "permanent", addressDead: true, reason: "invalid recipient address" },
    }],
  },
  "401": { disposition: "fallback", reason: "the API key is missing or wrong" },
  "403": {
    disposition: "fallback",
    reason: "forbidden (key scope, or the sender identity is not verified)",
  },
  "413": { disposition: "permanent", reason: "the message is too large" },
  "429": { disposition: "transient", throttled: true, reason: "too many requests" },
  "event.bounce": {
    disposition: "permanent",
    addressDead: true,
    reason: "hard bounce: the receiving server refused the address",
  },
  "event.bounce.blocked": {
    disposition: "transient",
    reason: "blocked: the receiving server refused the message for now",
  },
  "event.dropped": {
    disposition: "permanent",
    reason: "dropped by SendGrid",
    byMessage: [{
      // An opt-out, not a dead address: the webhook withdraws email marketing consent instead
      // (README: an opt-out withdraws marketing consent; it does not suppress).
      pattern: unsubscribedAddressDrop,
      rule: {
        disposition: "permanent",
        reason: "dropped: the recipient unsubscribed (SendGrid's unsubscribe list)",
      },
    }, {
      pattern: /bounced address|invalid|spam reporting address/i,
      rule: {
        disposition: "permanent",
        addressDead: true,
        reason: "dropped: the address is on a SendGrid suppression list",
      },
    }],
  },
  "event.spamreport": {
    disposition: "permanent",
    addressDead: true,
    reason: "the recipient marked the email as spam",
  },
  "event.deferred": {
    disposition: "transient",
    reason: "deferred: the receiving server asked to try later",
  },
};

/** What the SendGrid provider needs. `baseUrl` is SENDGRID_BASE_URL (no `/v3`). */
export interface SendgridOptions {
  apiKey: string;
  baseUrl: string;
  from: string;
  /** Deadline of one send, in milliseconds. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** The v3 mail-send body for one message (text/plain first, as SendGrid requires). */
export function sendgridBody(message: OutboundMessage, from: string): Record<string, unknown> {
  const content = [
    ...(message.body ? [{ type: "text/plain", value: message.body }] : []),
    ...(message.html ? [{ type: "text/html", value: message.html }] : []),
  ];
  // A marketing email offers its withdrawal link as one-click unsubscribe (RFC 8058).
  const headers = oneClickUnsubscribeHeaders(message.purpose, message.body);
  return {
    personalizations: [{ to: [{ email: message.to }] }],
    from: { email: from },
    subject: message.subject,
    content,
    custom_args: { message_id: message.id },
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
  };
}

/** The text of SendGrid's `{errors:[{message, field, help}]}` as `field: message; ...`. */
function errorText(json: Record<string, unknown> | undefined): string {
  const errors = Array.isArray(json?.errors) ? json.errors : [];
  return errors
    .map((error) => {
      const { field, message } = (error ?? {}) as { field?: unknown; message?: unknown };
      const text = typeof message === "string" ? message : "";
      return typeof field === "string" && field ? `${field}: ${text}` : text;
    })
    .filter(Boolean)
    .join("; ");
}

/** The SendGrid email provider; `send` classifies every failure through sendgridErrors. */
export function sendgridProvider(options: SendgridOptions): Provider {
  const doFetch = options.fetch ?? fetch;
  const endpoint = `${options.baseUrl.replace(/\/+$/, "")}/v3/mail/send`;

  async function send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    if (message.channel !== "email") {
      return invalidMessage(`sendgrid sends email, not ${message.channel}`);
    }
    if (!message.subject || (!message.body && !message.html)) {
      return invalidMessage("an email needs a subject and a text or HTML body");
    }
    const body = JSON.stringify(sendgridBody(message, options.from));
    return await withDeadline("sendgrid", options.timeoutMs, signal, async (deadline) => {
      const response = await doFetch(endpoint, {
        method: "POST",
        headers: {
          authorization: `Bearer ${options.apiKey}`,
          "content-type": "application/json",
        },
        body,
        signal: deadline,
      });
      const text = await response.text();
      if (response.ok) {
        const id = response.headers.get("x-message-id");
        return id ? { ok: true, providerMessageId: id } : invalidResponse("sendgrid", text);
      }
      const wait = retryAfterMs(response.headers) ??
        (response.status === 429
          ? rateLimitResetMs(response.headers.get("x-ratelimit-reset"))
          : undefined);
      const status = String(response.status);
      if (Object.hasOwn(sendgridErrors, status)) {
        return classifyError(sendgridErrors, status, errorText(parseJsonObject(text)), wait);
      }
      return response.status >= 500
        ? httpFailure(response.status, text, wait)
        : classifyError(sendgridErrors, status, errorText(parseJsonObject(text)) || text, wait);
    });
  }

  return { code: "sendgrid", channel: "email", send };
}
