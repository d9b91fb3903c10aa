// Twilio Programmable Messaging, as the sandbox plays it (VENDORS.md §1):
// POST /twilio/2010-04-01/Accounts/{AccountSid}/Messages.json (form-encoded, Basic auth) → 201
// snake_case JSON; errors {code, message, more_info, status}; 20429 with HTTP 429; status
// callbacks (sent → delivered; none for the initial queued; form-encoded, X-Twilio-Signature)
// to each send's StatusCallback; GET …/Messages/{Sid}.json; inbound SMS (and STOP/START
// opt-out) to webhooks.twilioInbound.

import type { Delivery } from "./callbacks.ts";
import { basicAuth, field, isE164, json, parseForm, sameSecret } from "./http.ts";
import { twilioSid } from "./ids.ts";
import { smsSegments } from "./segments.ts";
import { twilioSignature } from "./sign.ts";
import { type CallbackMode, sleep, type VendorState } from "./state.ts";
import type { SandboxContext } from "./types.ts";

const apiVersion = "2010-04-01";
/** What one SMS segment to India costs in the sandbox, in USD (Twilio prices in USD). */
const pricePerSegmentUsd = 0.0832;
/** The number inbound replies are addressed to when the customer was never sent anything. */
const defaultInboundNumber = "+15005550006";

/** Twilio's error codes the sandbox knows: HTTP status and message. */
const errors: Record<number, { status: number; message: string }> = {
  20003: { status: 401, message: "Authenticate" },
  20404: { status: 404, message: "The requested resource was not found" },
  20429: { status: 429, message: "Too Many Requests" },
  20500: { status: 500, message: "Internal Server Error" },
  20503: { status: 503, message: "Service Unavailable" },
  21211: { status: 400, message: "Invalid 'To' Phone Number" },
  21212: { status: 400, message: "Invalid From Number (caller ID)" },
  21408: {
    status: 400,
    message: "Permission to send an SMS has not been enabled for the region indicated by the " +
      "'To' number",
  },
  21602: { status: 400, message: "Message body is required." },
  21603: { status: 400, message: "A 'From' or 'MessagingServiceSid' parameter is required." },
  21604: { status: 400, message: "A 'To' phone number is required." },
  21608: {
    status: 400,
    message: "The number is unverified. Trial accounts cannot send messages to unverified numbers",
  },
  21609: { status: 400, message: "Invalid StatusCallback" },
  21610: { status: 400, message: "Attempt to send to unsubscribed recipient" },
  21612: { status: 400, message: "The 'To' phone number is not currently reachable via SMS" },
  21614: { status: 400, message: "'To' number is not a valid mobile number" },
  21617: { status: 400, message: "The concatenated message body exceeds the 1600 character limit" },
};

/**
 * Twilio's test-credential magic `To` numbers and the error each forces (Twilio test-credentials
 * docs; VENDORS.md marks the list (v)).
 */
const magicTo: Record<string, number> = {
  "+15005550001": 21211,
  "+15005550002": 21612,
  "+15005550003": 21408,
  "+15005550004": 21610,
  "+15005550009": 21614,
};

/** Delivery errors (30xxx) that end in `failed` (never sent); the others end in `undelivered`. */
const failedBeforeSending = new Set([30001, 30002, 30008]);

/** Keywords of Twilio's default opt-out handling (STOP …) and opt-in (START …). */
const stopWords = new Set([
  "STOP",
  "STOPALL",
  "UNSUBSCRIBE",
  "CANCEL",
  "END",
  "QUIT",
  "REVOKE",
  "OPTOUT",
]);
const startWords = new Set(["START", "YES", "UNSTOP"]);

/** A message as GET …/Messages/{Sid}.json returns it. */
type MessageResource = Record<string, string | number | null | Record<string, string>>;

/** Twilio's RFC-2822 date, e.g. `Thu, 30 Jul 2015 20:12:31 +0000`. */
function rfc2822(date = new Date()): string {
  return date.toUTCString().replace("GMT", "+0000");
}

/** Twilio's error envelope. */
function twilioError(code: number, status?: number, detail?: string): Response {
  const known = errors[code];
  const httpStatus = status ?? known?.status ?? 400;
  const message = detail ?? known?.message ?? `Error ${code}`;
  return json(
    {
      code,
      message,
      more_info: `https://www.twilio.com/docs/errors/${code}`,
      status: httpStatus,
    },
    httpStatus,
    httpStatus === 401 ? { "www-authenticate": 'Basic realm="Twilio API"' } : {},
  );
}

/** The Twilio vendor: its request handler and its customer-reply player. */
export class TwilioVendor {
  private messages = new Map<string, MessageResource>();
  /** Customer numbers that replied STOP (until they reply START). */
  private optedOut = new Set<string>();
  /** The sender last used towards each customer number, so replies go back to it. */
  private lastSender = new Map<string, string>();

  constructor(private ctx: SandboxContext, private state: VendorState) {}

  /** Forgets messages, opt-outs and senders (control reset). */
  reset(): void {
    this.messages.clear();
    this.optedOut.clear();
    this.lastSender.clear();
  }

  /** Handles a request under /twilio; `path` is what follows the prefix. */
  async handle(request: Request, path: string): Promise<Response> {
    const faults = this.state.faults;
    if (faults.outage) return twilioError(20503);
    // The request is in before the latency: a client that gives up waiting has still sent it,
    // and Twilio goes on with it (as the AWS and other vendors here do).
    const raw = await request.text();
    await sleep(faults.latencyMs);
    const match = path.match(/^\/2010-04-01\/Accounts\/([^/]+)\/Messages(?:\/([^/]+))?\.json$/);
    const auth = basicAuth(request.headers.get("authorization"));
    const { twilioAccountSid, twilioAuthToken } = this.ctx.credentials;
    if (
      !auth || auth.user !== twilioAccountSid || !sameSecret(auth.password, twilioAuthToken)
    ) {
      return twilioError(20003);
    }
    if (!match || match[1] !== twilioAccountSid) {
      return twilioError(20404, 404, `The requested resource ${path} was not found`);
    }
    if (request.method === "GET" && match[2]) {
      const message = this.messages.get(match[2]);
      return message ? json(message) : twilioError(
        20404,
        404,
        `The requested resource /2010-04-01/Accounts/${match[1]}/Messages/${match[2]}.json ` +
          "was not found",
      );
    }
    if (request.method !== "POST" || match[2]) {
      return twilioError(20404, 405, "Method not allowed");
    }
    if (this.state.checkRate().limited) return twilioError(20429);
    return this.create(parseForm(raw));
  }

  /** POST …/Messages.json, once authenticated and within the rate. */
  private create(params: Record<string, string | string[]>): Response {
    const to = field(params, "To");
    const from = field(params, "From");
    const serviceSid = field(params, "MessagingServiceSid");
    const body = field(params, "Body");
    const media = params.MediaUrl;
    const contentSid = field(params, "ContentSid");
    const statusCallback = field(params, "StatusCallback");
    if (!to) return twilioError(21604);
    if (!from && !serviceSid) return twilioError(21603);
    if (!body && !media && !contentSid) return twilioError(21602);
    const address = to.replace(/^whatsapp:/, "");
    if (!isE164(address)) return twilioError(21211, 400, `Invalid 'To' Phone Number: ${to}`);
    if (from && !isE164(from.replace(/^whatsapp:/, "")) && !/^[A-Za-z0-9 ]{1,11}$/.test(from)) {
      return twilioError(21212, 400, `Invalid From Number (caller ID): ${from}`);
    }
    if (body && body.length > 1600) return twilioError(21617);
    let callbackUrl: URL | undefined;
    if (statusCallback) {
      try {
        callbackUrl = new URL(statusCallback);
      } catch {
        return twilioError(21609, 400, `Invalid StatusCallback: ${statusCallback}`);
      }
    }
    if (magicTo[address]) return twilioError(magicTo[address]);
    if (this.optedOut.has(address)) return twilioError(21610);

    const fail = this.state.takeFailNext();
    const failCode = fail ? Number(fail.code) : null;
    const failLater = fail !== null &&
      (fail.via === "callback" || (fail.via !== "response" && failCode! >= 30000));
    if (fail && !failLater) return twilioError(failCode!, fail.status);
    if (this.state.randomFailure()) return twilioError(20500);

    const sid = twilioSid(media ? "MM" : "SM");
    const now = new Date();
    const stamp = rfc2822(now);
    const segments = smsSegments(body ?? "").segments;
    const resource: MessageResource = {
      account_sid: this.ctx.credentials.twilioAccountSid,
      api_version: apiVersion,
      body: body ?? "",
      date_created: stamp,
      date_sent: null,
      date_updated: stamp,
      direction: "outbound-api",
      error_code: null,
      error_message: null,
      from: serviceSid && !from ? null : from!,
      messaging_service_sid: serviceSid ?? null,
      num_media: String(Array.isArray(media) ? media.length : media ? 1 : 0),
      num_segments: String(segments),
      price: null,
      price_unit: "USD",
      sid,
      status: serviceSid ? "accepted" : "queued",
      subresource_uris: {
        media: `/${apiVersion}/Accounts/${this.ctx.credentials.twilioAccountSid}/Messages/${sid}` +
          "/Media.json",
      },
      to,
      uri: `/${apiVersion}/Accounts/${this.ctx.credentials.twilioAccountSid}/Messages/${sid}.json`,
    };
    const answer = json(resource, 201);
    const stored = { ...resource };
    this.messages.set(sid, stored);
    this.lastSender.set(address, from ?? defaultInboundNumber);
    this.state.requests.push({
      id: sid,
      receivedAt: now.toISOString(),
      to,
      body,
      template: contentSid,
      params,
      ourId: callbackUrl?.searchParams.get("message_id") ?? undefined,
    });

    const finalStatus = failLater
      ? (failedBeforeSending.has(failCode!) ? "failed" : "undelivered")
      : "delivered";
    // The resource moves on at once (GET shows it), whatever the callbacks do.
    Object.assign(stored, {
      status: finalStatus,
      date_sent: finalStatus === "failed" ? null : stamp,
      date_updated: stamp,
      error_code: failLater ? failCode : null,
      error_message: failLater ? "Message Delivery - Unknown error" : null,
      price: finalStatus === "failed" ? null : (-pricePerSegmentUsd * segments).toFixed(5),
    });
    if (callbackUrl) {
      this.ctx.callbacks.schedule(
        this.state,
        (mode) => this.statusSequence(mode, callbackUrl!.href, stored, failLater ? failCode : null),
        { retries: 0, backoffMs: 0 },
      );
    }
    return answer;
  }

  /** The status callbacks of a send, in Twilio's order, for a callback mode. */
  private statusSequence(
    mode: CallbackMode,
    url: string,
    message: MessageResource,
    errorCode: number | null,
  ): Delivery[] {
    // No callback for the initial status (queued: the send's own answer says it), VENDORS.md §1.
    const statuses = errorCode === null
      ? ["sent", "delivered"]
      : failedBeforeSending.has(errorCode)
      ? ["failed"]
      : ["sent", "undelivered"];
    const chosen = mode === "read_without_delivered"
      ? statuses.filter((status) => status !== "delivered")
      : statuses;
    return chosen.map((status) => ({
      event: status,
      url,
      providerMessageId: String(message.sid),
      build: () => {
        const params: Record<string, string> = {
          SmsSid: String(message.sid),
          SmsStatus: status,
          MessageStatus: status,
          To: String(message.to),
          MessageSid: String(message.sid),
          AccountSid: this.ctx.credentials.twilioAccountSid,
          From: String(message.from ?? defaultInboundNumber),
          ApiVersion: apiVersion,
        };
        if (message.messaging_service_sid) {
          params.MessagingServiceSid = String(message.messaging_service_sid);
        }
        if (status === "delivered") params.RawDlrDoneDate = rawDlrDate();
        if (errorCode !== null && (status === "failed" || status === "undelivered")) {
          params.ErrorCode = String(errorCode);
        }
        return this.signedForm(url, params);
      },
    }));
  }

  /** Headers and body of a form POST signed with X-Twilio-Signature. */
  private async signedForm(url: string, params: Record<string, string>) {
    const signature = await twilioSignature(this.ctx.credentials.twilioAuthToken, url, params);
    return {
      headers: {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "x-twilio-signature": signature,
        "i-twilio-idempotency-token": crypto.randomUUID(),
        "user-agent": "TwilioProxy/1.1",
      },
      body: new URLSearchParams(params).toString(),
    };
  }

  /**
   * Plays a customer's SMS reply: POSTs it, signed, to webhooks.twilioInbound. STOP-like words
   * opt the number out (later sends answer 21610, as Twilio's default opt-out handling does) and
   * add `OptOutType`; START-like words opt it back in. Returns the inbound message's SID and the
   * receiver's HTTP status.
   */
  async reply(from: string, text: string): Promise<{ sid: string; status: number }> {
    const url = this.ctx.webhooks.twilioInbound;
    if (!url) throw new Error("no webhooks.twilioInbound is set");
    const sid = twilioSid("SM");
    const to = this.lastSender.get(from) ?? defaultInboundNumber;
    const keyword = text.trim().toUpperCase();
    const params: Record<string, string> = {
      ToCountry: "US",
      ToState: "",
      SmsMessageSid: sid,
      NumMedia: "0",
      ToCity: "",
      FromZip: "",
      SmsSid: sid,
      FromState: "",
      SmsStatus: "received",
      FromCity: "",
      Body: text,
      FromCountry: from.startsWith("+91") ? "IN" : "US",
      To: to,
      ToZip: "",
      NumSegments: String(smsSegments(text).segments),
      MessageSid: sid,
      AccountSid: this.ctx.credentials.twilioAccountSid,
      From: from,
      ApiVersion: apiVersion,
    };
    if (stopWords.has(keyword)) {
      params.OptOutType = "STOP";
      this.optedOut.add(from);
    } else if (startWords.has(keyword)) {
      params.OptOutType = "START";
      this.optedOut.delete(from);
    } else if (keyword === "HELP" || keyword === "INFO") {
      params.OptOutType = "HELP";
    }
    const status = await this.ctx.callbacks.deliverNow(this.state, {
      event: "inbound",
      url,
      providerMessageId: sid,
      build: () => this.signedForm(url, params),
    }, { retries: 0, backoffMs: 0 });
    return { sid, status };
  }
}

/** Twilio's `RawDlrDoneDate`: the carrier's delivery time as YYMMDDhhmm (UTC). */
function rawDlrDate(date = new Date()): string {
  return date.toISOString().replace(/[-T:]/g, "").slice(2, 12);
}
