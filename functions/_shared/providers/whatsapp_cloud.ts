// WhatsApp Cloud API (Meta Graph) with fetch: POST {GRAPH_BASE_URL}/{PHONE_NUMBER_ID}/messages,
// Bearer token, JSON (VENDORS.md §3; Meta's own Node SDK is archived). The Graph version is
// pinned in GRAPH_BASE_URL (config: v21.0). Our message id travels as biz_opaque_callback_data,
// which Meta returns in every status webhook of the message.
import { classifyError, httpFailure, invalidMessage, invalidResponse } from "./classify.ts";
import { parseJsonObject, retryAfterMs, withDeadline } from "./http.ts";
import type { ErrorTable, OutboundMessage, Provider, SendResult } from "./types.ts";

/**
 * Every WhatsApp error code VENDORS.md §3 documents, with its disposition; 2, 131000, 131009,
 * 131042, 132015 and 132016 come from Meta's error-codes page beyond VENDORS.md. Errors arrive synchronously, in
 * status webhooks (`errors[].code`), or both: the same table serves both.
 */
export const whatsappErrors: ErrorTable = {
  "190": { disposition: "fallback", reason: "access token expired or invalid" },
  "10": { disposition: "fallback", reason: "permission denied (app or token lacks a permission)" },
  "200": { disposition: "fallback", reason: "permission error" },
  "100": { disposition: "permanent", reason: "invalid parameter" },
  "368": {
    disposition: "fallback",
    reason: "temporarily blocked for policy violations",
  },
  "4": {
    disposition: "transient",
    throttled: true,
    reason: "too many calls (application rate limit)",
  },
  "80007": {
    disposition: "transient",
    throttled: true,
    reason: "WhatsApp Business Account rate limit hit",
  },
  "130429": {
    disposition: "transient",
    throttled: true,
    reason: "throughput limit reached (about 80 messages/s per number)",
  },
  "131056": {
    disposition: "transient",
    throttled: true,
    reason: "pair rate limit hit (about 1 message per 6 s to one user)",
    retryAfterMs: 6_000,
  },
  "131048": {
    disposition: "fallback",
    reason: "spam rate limit hit: this number is restricted on WhatsApp",
  },
  "131049": {
    disposition: "fallback",
    reason: "marketing message not delivered to keep the user's engagement healthy (cap); " +
      "never retried on WhatsApp",
  },
  "131026": {
    disposition: "fallback",
    reason: "undeliverable: the number is not on WhatsApp or cannot receive this message",
  },
  "131047": {
    disposition: "fallback",
    reason: "more than 24 hours since the customer last wrote: only a template may be sent",
  },
  "131052": { disposition: "permanent", reason: "media download error" },
  "131053": { disposition: "permanent", reason: "media upload error (URL or type refused)" },
  "132000": {
    disposition: "permanent",
    reason: "template parameter count does not match the approved template",
  },
  "132001": {
    disposition: "permanent",
    reason: "template does not exist or is not approved in that language",
  },
  "2": { disposition: "transient", reason: "service temporarily unavailable" },
  "131000": { disposition: "transient", reason: "something went wrong (unknown error)" },
  "131009": { disposition: "permanent", reason: "a parameter value is not valid" },
  "131042": {
    disposition: "fallback",
    reason: "business eligibility payment issue (no valid payment method)",
  },
  "132015": { disposition: "fallback", reason: "template paused for low quality" },
  "132016": { disposition: "fallback", reason: "template disabled" },
};

/** What the WhatsApp provider needs. `baseUrl` is GRAPH_BASE_URL (with the version). */
export interface WhatsappOptions {
  accessToken: string;
  phoneNumberId: string;
  baseUrl: string;
  /** Deadline of one send, in milliseconds. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

/**
 * The Graph request body for one message: a template if one is given, else a document, else
 * text (`whatsapp.text`, or the message body). `to` goes as digits with the country code.
 * Undefined when the message carries nothing WhatsApp can send.
 */
export function whatsappBody(message: OutboundMessage): Record<string, unknown> | undefined {
  const base = {
    messaging_product: "whatsapp",
    recipient_type: "individual",
    to: message.to.replace(/\D/g, ""),
    biz_opaque_callback_data: message.id,
  };
  const { template, document } = message.whatsapp ?? {};
  if (template) {
    return {
      ...base,
      type: "template",
      template: {
        name: template.name,
        language: { code: template.language },
        ...(template.components ? { components: template.components } : {}),
      },
    };
  }
  if (document) {
    return {
      ...base,
      type: "document",
      document: {
        link: document.link,
        filename: document.filename,
        ...(document.caption ? { caption: document.caption } : {}),
      },
    };
  }
  const text = message.whatsapp?.text ?? message.body;
  if (!text) return undefined;
  return { ...base, type: "text", text: { body: text, preview_url: false } };
}

/** The WhatsApp Cloud API provider; `send` classifies every failure through whatsappErrors. */
export function whatsappProvider(options: WhatsappOptions): Provider {
  const doFetch = options.fetch ?? fetch;
  const endpoint = `${options.baseUrl.replace(/\/+$/, "")}/${
    encodeURIComponent(options.phoneNumberId)
  }/messages`;

  async function send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    if (message.channel !== "whatsapp") {
      return invalidMessage(`whatsapp_cloud sends whatsapp, not ${message.channel}`);
    }
    const payload = whatsappBody(message);
    if (!payload) return invalidMessage("a WhatsApp message needs a template, a document or text");
    return await withDeadline("whatsapp_cloud", options.timeoutMs, signal, async (deadline) => {
      const response = await doFetch(endpoint, {
        method: "POST",
        headers: {
          authorization: `Bearer ${options.accessToken}`,
          "content-type": "application/json",
        },
        body: JSON.stringify(payload),
        signal: deadline,
      });
      const text = await response.text();
      const json = parseJsonObject(text);
      if (response.ok) {
        const messages = Array.isArray(json?.messages) ? json.messages : [];
        const id = (messages[0] as { id?: unknown } | undefined)?.id;
        return typeof id === "string" && id
          ? { ok: true, providerMessageId: id }
          : invalidResponse("whatsapp_cloud", text);
      }
      const wait = retryAfterMs(response.headers);
      const error = json?.error as
        | { code?: unknown; message?: unknown; error_data?: { details?: unknown } }
        | undefined;
      if (typeof error?.code === "number" || typeof error?.code === "string") {
        const details = typeof error.error_data?.details === "string"
          ? ` (${error.error_data.details})`
          : "";
        const detail = `${typeof error.message === "string" ? error.message : ""}${details}`;
        return classifyError(whatsappErrors, String(error.code), detail, wait);
      }
      return httpFailure(response.status, text, wait);
    });
  }

  return { code: "whatsapp_cloud", channel: "whatsapp", send };
}
