// Twilio Programmable Messaging (SMS), primary SMS provider.
//
// A small fetch client, not the `twilio` SDK: twilio-node is Node-first (os.platform(),
// https.Agent, fs for CA bundles, axios), an esm build of it failed under Deno, and no
// fetch-based request client ships in a release (VENDORS.md §10). The request is the one the SDK
// makes: POST {base}/2010-04-01/Accounts/{Sid}/Messages.json, form-encoded PascalCase
// parameters, HTTP Basic AccountSid:AuthToken (VENDORS.md §1).
import { classifyError, httpFailure, invalidMessage, invalidResponse } from "./classify.ts";
import { parseJsonObject, retryAfterMs, withDeadline } from "./http.ts";
import type { ErrorTable, OutboundMessage, Provider, SendResult } from "./types.ts";

/**
 * Every Twilio error code VENDORS.md §1 documents (REST errors on create, and the 30xxx delivery
 * errors that arrive later in status callbacks), with its disposition, and the other create
 * errors of Twilio's error pages a send can meet (20404, 205xx, 21212, 21602-21617). Sources:
 * Twilio's error pages as summarised in VENDORS.md.
 */
export const twilioErrors: ErrorTable = {
  "20003": {
    disposition: "fallback",
    reason: "authentication failed (account SID or auth token wrong or suspended)",
  },
  "20429": {
    disposition: "transient",
    throttled: true,
    reason: "too many requests (REST concurrency); never processed, safe to retry",
  },
  "20404": {
    disposition: "fallback",
    reason: "resource not found (the account SID or API path is wrong)",
  },
  "20500": { disposition: "transient", reason: "Twilio internal server error" },
  "20503": { disposition: "transient", reason: "Twilio service unavailable" },
  "21211": {
    disposition: "permanent",
    addressDead: true,
    reason: "invalid 'To' phone number",
  },
  "21212": {
    disposition: "fallback",
    reason: "invalid 'From' number or sender id for this account",
  },
  "21602": { disposition: "permanent", reason: "message body is required" },
  "21603": {
    disposition: "fallback",
    reason: "no 'From' or MessagingServiceSid (sender not configured)",
  },
  "21604": { disposition: "permanent", reason: "a 'To' phone number is required" },
  "21606": {
    disposition: "fallback",
    reason: "the 'From' number cannot send SMS to this destination",
  },
  "21609": { disposition: "fallback", reason: "the StatusCallback URL is invalid" },
  "21617": {
    disposition: "permanent",
    reason: "the message body exceeds 1600 characters",
  },
  "21408": {
    disposition: "fallback",
    reason: "permission to send to this region is not enabled on the account",
  },
  "21608": {
    disposition: "fallback",
    reason: "the 'To' number is unverified (trial account or no approved compliance profile)",
  },
  // A refusal of this recipient by Twilio, not a dead number: Twilio keeps its own opt-out list
  // per sender once a customer replies STOP, and refuses every later message to the number, even
  // the service reminders our STOP handling keeps (STOP withdraws SMS marketing consent only). So
  // the channel's fallback provider (AWS SNS, same DLT ids) carries a transactional or service
  // message; `fallback` is not counted by Twilio's circuit breaker (one customer's STOP must not
  // stop everyone's SMS), and the number is not suppressed (another sender can still reach it).
  // A marketing message is not carried: private.record_send_results fails it (21610 as its
  // reason) and withdraws SMS marketing consent for every customer on the number, as our own
  // STOP handling does (source sms_stop; migration fail_marketing_on_twilio_stop).
  "21610": {
    disposition: "fallback",
    reason: "the recipient replied STOP to this sender (Twilio's opt-out list); not a dead number",
  },
  "21612": {
    disposition: "fallback",
    reason: "the 'To' number is not currently reachable via SMS from this account",
  },
  "21614": {
    disposition: "permanent",
    addressDead: true,
    reason: "the 'To' number is not a mobile number (cannot receive SMS)",
  },
  "30003": {
    disposition: "transient",
    reason: "unreachable destination handset (switched off or out of coverage)",
  },
  "30004": {
    disposition: "permanent",
    reason: "message blocked (by the recipient or a carrier block list)",
  },
  "30005": {
    disposition: "permanent",
    addressDead: true,
    reason: "unknown destination handset (the number does not exist)",
  },
  "30006": {
    disposition: "permanent",
    addressDead: true,
    reason: "landline or unreachable carrier",
  },
  "30007": {
    disposition: "fallback",
    reason: "message filtered by the carrier",
  },
  "30008": {
    disposition: "transient",
    reason: "unknown delivery error",
  },
};

/** What the Twilio provider needs. `baseUrl` is TWILIO_BASE_URL (no `/2010-04-01`). */
export interface TwilioOptions {
  accountSid: string;
  authToken: string;
  baseUrl: string;
  /** Default `From` (E.164 or an alphanumeric sender / DLT header); a message's dlt.senderId wins. */
  from?: string;
  /** Send through this Messaging Service instead of `From` when no per-message sender is set. */
  messagingServiceSid?: string;
  /** Base of the status callback (our webhook), e.g. `${publicFunctionsUrl}/webhooks/twilio`. */
  statusCallbackUrl: string;
  /** Deadline of one send, in milliseconds. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** The StatusCallback URL for one message: `base` with our id as the query `message_id`. */
export function twilioStatusCallback(base: string, messageId: string): string {
  const url = new URL(base);
  url.searchParams.set("message_id", messageId);
  return url.toString();
}

/** The Twilio SMS provider; `send` classifies every failure through twilioErrors. */
export function twilioProvider(options: TwilioOptions): Provider {
  const doFetch = options.fetch ?? fetch;
  const endpoint = `${options.baseUrl.replace(/\/+$/, "")}/2010-04-01/Accounts/${
    encodeURIComponent(options.accountSid)
  }/Messages.json`;
  const authorization = `Basic ${btoa(`${options.accountSid}:${options.authToken}`)}`;

  async function send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    if (message.channel !== "sms") {
      return invalidMessage(`twilio sends sms, not ${message.channel}`);
    }
    if (!message.body) return invalidMessage("an SMS needs a body");
    const from = message.dlt?.senderId ?? options.from;
    if (!from && !options.messagingServiceSid) {
      return {
        ok: false,
        disposition: "fallback",
        code: "no_sender",
        message: "twilio has no sender: set SMS_SENDER_ID or TWILIO_MESSAGING_SERVICE_SID",
      };
    }
    const form = new URLSearchParams({ To: message.to, Body: message.body });
    if (from) form.set("From", from);
    else form.set("MessagingServiceSid", options.messagingServiceSid!);
    form.set(
      "StatusCallback",
      twilioStatusCallback(message.statusCallbackUrl ?? options.statusCallbackUrl, message.id),
    );

    return await withDeadline("twilio", options.timeoutMs, signal, async (deadline) => {
      const response = await doFetch(endpoint, {
        method: "POST",
        headers: {
          authorization,
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
        },
        body: form,
        signal: deadline,
      });
      const text = await response.text();
      const json = parseJsonObject(text);
      if (response.ok) {
        const sid = typeof json?.sid === "string" ? json.sid : undefined;
        if (!sid) return invalidResponse("twilio", text);
        return { ok: true, providerMessageId: sid };
      }
      const wait = retryAfterMs(response.headers);
      const code = json?.code;
      if (typeof code === "number" || typeof code === "string") {
        const detail = typeof json?.message === "string" ? json.message : "";
        return classifyError(twilioErrors, String(code), detail, wait);
      }
      return httpFailure(response.status, text, wait);
    });
  }

  return { code: "twilio", channel: "sms", send };
}
