// WhatsApp Cloud API, as the sandbox plays it (VENDORS.md §3): POST
// /graph/v{NN}.0/{PHONE_NUMBER_ID}/messages with a Bearer token; template, text and document
// bodies validated; templates checked against a small registry of approved templates (132001
// when missing in that language, 132000 when a component's parameter count differs); 200
// {messaging_product, contacts, messages:[{id:"wamid.…"}]}; the Graph error envelope; status
// webhooks (sent, delivered, read, failed with errors[]; pricing with its category) and inbound
// text messages to webhooks.whatsapp, signed with X-Hub-Signature-256, JSON with non-ASCII
// escaped as \uXXXX as Meta sends it.
// A template's header parameter must match the template's header format (132012 otherwise): a
// document header takes {type: "document", document: {link, filename}} with an http(s) link.
// Like Meta, the sandbox downloads a document it is sent by link (template header or document
// message) when it will report the message's statuses: when the download fails (not 2xx, or not
// a PDF for a .pdf file name), the status webhook is `failed` with 131052 (media download error).
// Meta downloads after answering; the sandbox before, so no download outlives a test.

import type { Delivery } from "./callbacks.ts";
import { bearer, json, sameSecret } from "./http.ts";
import { fbtraceId, randomHex, wamid } from "./ids.ts";
import { whatsappSignature } from "./sign.ts";
import { type CallbackMode, sleep, type VendorState } from "./state.ts";
import type { SandboxContext } from "./types.ts";

/** The WhatsApp Business Account the sandbox's number belongs to (webhook `entry[].id`). */
const wabaId = "102290129340398";
/** The display number of the sandbox's business phone. */
const displayPhoneNumber = "15550783881";
/** The 24-hour customer-service window, in milliseconds. */
const windowMs = 24 * 60 * 60 * 1000;

/** An approved template of the sandbox's registry. */
export interface WhatsappTemplate {
  name: string;
  /** As sent in `language.code`: `en`, `en_US`, `hi`… (matched exactly, as Meta does). */
  language: string;
  category: "utility" | "marketing" | "authentication";
  /** Parameter count of the body component. */
  bodyParams: number;
  /** The header's format, if the template has one taking a parameter. */
  header?: "text" | "document" | "image" | "video";
  /** Parameter count of the URL button (0 or 1), if the template has one. */
  buttonParams?: number;
}

/** The registry the sandbox starts with and returns to on reset. */
export function defaultTemplates(): WhatsappTemplate[] {
  const both = (t: Omit<WhatsappTemplate, "language">): WhatsappTemplate[] => [
    { ...t, language: "en" },
    { ...t, language: "hi" },
  ];
  return [
    ...both({ name: "renewal_reminder", category: "utility", bodyParams: 3 }),
    ...both({ name: "payment_receipt", category: "utility", bodyParams: 2, header: "document" }),
    ...both({ name: "renewal_notice", category: "utility", bodyParams: 3, header: "document" }),
    ...both({ name: "payment_link", category: "utility", bodyParams: 2, buttonParams: 1 }),
    ...both({ name: "renewal_offer", category: "marketing", bodyParams: 2 }),
    {
      name: "login_otp",
      language: "en",
      category: "authentication",
      bodyParams: 1,
      buttonParams: 1,
    },
  ];
}

/** Graph error codes the sandbox knows: HTTP status, title, details. */
const knownErrors: Record<number, { status: number; title: string; details: string }> = {
  2: { status: 503, title: "Service temporarily unavailable", details: "Service unavailable." },
  4: { status: 400, title: "Application request limit reached", details: "Too many calls." },
  10: { status: 403, title: "Application does not have permission for this action", details: "" },
  100: { status: 400, title: "Invalid parameter", details: "Invalid parameter." },
  190: {
    status: 401,
    title: "Invalid OAuth access token - Cannot parse access token",
    details: "",
  },
  200: { status: 403, title: "Permissions error", details: "" },
  368: {
    status: 403,
    title: "Temporarily blocked for policies violations",
    details: "The WhatsApp Business Account was restricted for violating policy.",
  },
  130429: {
    status: 400,
    title: "Rate limit hit",
    details: "Cloud API message throughput has been reached.",
  },
  131000: { status: 500, title: "Something went wrong", details: "Something went wrong." },
  131009: { status: 400, title: "Parameter value is not valid", details: "" },
  131026: {
    status: 400,
    title: "Message undeliverable",
    details: "Message Undeliverable.",
  },
  131047: {
    status: 400,
    title: "Re-engagement message",
    details: "Message failed to send because more than 24 hours have passed since the " +
      "customer last replied to this number.",
  },
  131048: {
    status: 400,
    title: "Spam rate limit hit",
    details: "Message failed to send because there are restrictions on how many messages can " +
      "be sent from this phone number.",
  },
  131049: {
    status: 400,
    title: "This message was not delivered to maintain healthy ecosystem engagement.",
    details: "In order to maintain a healthy ecosystem engagement, the message failed to be " +
      "delivered.",
  },
  131052: { status: 400, title: "Media download error", details: "Unable to download the media." },
  131053: { status: 400, title: "Media upload error", details: "Unable to upload the media." },
  131056: {
    status: 400,
    title: "(Business Account, Consumer Account) pair rate limit hit",
    details: "Message failed to send because there were too many messages sent from this " +
      "phone number to the same phone number in a short period of time.",
  },
  132000: {
    status: 400,
    title: "Number of parameters does not match the expected number of params",
    details: "",
  },
  132012: {
    status: 400,
    title: "Parameter format does not match format in the created template",
    details: "",
  },
  132001: {
    status: 404,
    title: "Template name does not exist in the translation",
    details: "",
  },
};

/** A document parameter's link and file name (the link already checked to be a string). */
function mediaOf(document: Record<string, unknown>): { link: string; filename?: string } {
  return {
    link: document.link as string,
    filename: typeof document.filename === "string" ? document.filename : undefined,
  };
}

/**
 * Downloads a document sent by link, as Meta does before delivering it: true when the link
 * answers 2xx within 10 s and, for a `.pdf` file name, the bytes start with `%PDF-`.
 */
async function downloads(media: { link: string; filename?: string }): Promise<boolean> {
  try {
    const response = await fetch(media.link, { signal: AbortSignal.timeout(10_000) });
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (!response.ok) return false;
    const pdf = media.filename?.toLowerCase().endsWith(".pdf") ?? false;
    return !pdf || new TextDecoder().decode(bytes.slice(0, 5)) === "%PDF-";
  } catch {
    return false;
  }
}

/** Meta's JSON: JSON.stringify with every non-ASCII UTF-16 unit escaped as lowercase \uXXXX. */
export function metaJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u0080-\uffff]/g,
    (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"),
  );
}

/** The Graph error envelope. */
function graphError(
  code: number,
  options: { status?: number; details?: string; title?: string; subcode?: number } = {},
): Response {
  const known = knownErrors[code];
  const status = options.status ?? known?.status ?? 400;
  const title = options.title ?? known?.title ?? "Unknown error";
  const details = options.details ?? known?.details ?? "";
  const error: Record<string, unknown> = {
    message: `(#${code}) ${title}`,
    type: "OAuthException",
    code,
  };
  if (code === 190) error.message = title;
  if (details) error.error_data = { messaging_product: "whatsapp", details };
  if (options.subcode !== undefined) error.error_subcode = options.subcode;
  error.fbtrace_id = fbtraceId();
  return json(
    { error },
    status,
    code === 190
      ? { "www-authenticate": 'OAuth "Facebook Platform" "invalid_token" "' + title + '"' }
      : {},
  );
}

/** What a send was, for its status webhooks. */
interface SentMessage {
  id: string;
  recipient: string;
  category: "utility" | "marketing" | "authentication" | "service";
  opaque?: string;
}

/**
 * The WhatsApp Cloud API vendor: message sends, its template registry (settable through the
 * control API), status webhooks and the customer-reply player.
 */
export class WhatsappVendor {
  templates: WhatsappTemplate[] = defaultTemplates();
  /** When on, free-form messages outside the 24-hour window answer 131047 (control API). */
  enforceWindow = false;
  /** Last inbound message per customer (wa_id), in ms since the epoch. */
  private lastInbound = new Map<string, number>();

  constructor(private ctx: SandboxContext, private state: VendorState) {}

  /** Back to the default registry, no window enforcement, no inbound history. */
  reset(): void {
    this.templates = defaultTemplates();
    this.enforceWindow = false;
    this.lastInbound.clear();
  }

  /** Handles a request under /graph; `path` is what follows the prefix. */
  async handle(request: Request, path: string): Promise<Response> {
    const faults = this.state.faults;
    if (faults.outage) return graphError(2);
    // The request is in before the latency: a client that gives up waiting has still sent it.
    const raw = await request.text();
    await sleep(faults.latencyMs);
    const token = bearer(request.headers.get("authorization"));
    if (!token || !sameSecret(token, this.ctx.credentials.whatsappAccessToken)) {
      return graphError(190, { subcode: token ? 463 : undefined });
    }
    const match = path.match(/^\/v\d+\.\d+\/([^/]+)\/messages$/);
    if (!match || request.method !== "POST") {
      return graphError(100, {
        subcode: 33,
        title: "Unsupported request - method type: " +
          request.method.toLowerCase(),
      });
    }
    if (match[1] !== this.ctx.credentials.whatsappPhoneNumberId) {
      return graphError(100, {
        subcode: 33,
        title: `Unsupported post request. Object with ID '${match[1]}' does not exist, cannot ` +
          "be loaded due to missing permissions, or does not support this operation.",
        details: "",
      });
    }
    if (this.state.checkRate().limited) return graphError(130429);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw);
      if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error();
    } catch {
      return graphError(100, { details: "Unexpected JSON body." });
    }
    return await this.send(body);
  }

  private async send(body: Record<string, unknown>): Promise<Response> {
    const param = (name: string) =>
      graphError(100, { details: `The parameter ${name} is required.` });
    if (body.messaging_product !== "whatsapp") return param("messaging_product");
    if (typeof body.to !== "string" || body.to === "") return param("to");
    const recipient = body.to.replace(/^\+/, "");
    if (!/^\d{7,15}$/.test(recipient)) {
      return graphError(131009, { details: `Invalid WhatsApp recipient: ${body.to}` });
    }
    const type = body.type ?? "text";
    let category: SentMessage["category"] = "service";
    let summary: { body?: string; template?: string } = {};
    /** The document the message carries by link, which the sandbox downloads as Meta does. */
    let media: { link: string; filename?: string } | undefined;
    if (type === "text") {
      const text = body.text as { body?: unknown } | undefined;
      if (typeof text?.body !== "string" || text.body === "") return param("text['body']");
      if (text.body.length > 4096) {
        return graphError(100, {
          details: "Param text['body'] must be at most 4096 characters long.",
        });
      }
      summary = { body: text.body };
    } else if (type === "document") {
      const document = body.document as Record<string, unknown> | undefined;
      if (typeof document?.link !== "string" && typeof document?.id !== "string") {
        return param("document['link'] or document['id']");
      }
      if (typeof document.link === "string" && !/^https?:\/\/\S+$/.test(document.link)) {
        return graphError(131009, { details: "Param document['link'] is not a valid URI." });
      }
      summary = { body: typeof document.caption === "string" ? document.caption : undefined };
      if (typeof document.link === "string") media = mediaOf(document);
    } else if (type === "template") {
      const checked = this.checkTemplate(body.template);
      if (checked instanceof Response) return checked;
      category = checked.category;
      summary = { template: checked.name, body: checked.text };
      media = checked.document;
    } else {
      return graphError(100, {
        details: "Param type must be one of {AUDIO, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, " +
          'LOCATION, REACTION, STICKER, TEMPLATE, TEXT, VIDEO} - got "' + String(type) + '".',
      });
    }
    if (this.enforceWindow && type !== "template") {
      const last = this.lastInbound.get(recipient);
      if (last === undefined || Date.now() - last > windowMs) return graphError(131047);
    }

    const fail = this.state.takeFailNext();
    const failLater = fail?.via === "callback";
    if (fail && !failLater) return graphError(Number(fail.code), { status: fail.status });
    if (this.state.randomFailure()) return graphError(131000);

    const id = wamid(recipient);
    const opaque = typeof body.biz_opaque_callback_data === "string"
      ? body.biz_opaque_callback_data
      : undefined;
    this.state.requests.push({
      id,
      receivedAt: new Date().toISOString(),
      to: body.to,
      body: summary.body,
      template: summary.template,
      params: body,
      ourId: opaque,
    });
    const url = this.ctx.webhooks.whatsapp;
    if (url) {
      const sent: SentMessage = { id, recipient, category, opaque };
      let errorCode = failLater ? Number(fail!.code) : null;
      if (errorCode === null && media && this.state.faults.callbacks.mode !== "none") {
        if (!(await downloads(media))) errorCode = 131052;
      }
      this.ctx.callbacks.schedule(
        this.state,
        (mode) => this.statuses(mode, url, sent, errorCode),
        { retries: 3, backoffMs: 200 },
      );
    }
    return json({
      messaging_product: "whatsapp",
      contacts: [{ input: body.to, wa_id: recipient }],
      messages: [{ id, ...(type === "template" ? { message_status: "accepted" } : {}) }],
    });
  }

  /** Checks a template against the registry; the template found, or the Graph error. */
  private checkTemplate(
    value: unknown,
  ): {
    name: string;
    category: WhatsappTemplate["category"];
    text?: string;
    document?: { link: string; filename?: string };
  } | Response {
    const template = value as {
      name?: unknown;
      language?: { code?: unknown };
      components?: Array<{ type?: string; sub_type?: string; parameters?: unknown[] }>;
    } | undefined;
    if (typeof template?.name !== "string") {
      return graphError(100, { details: "The parameter template['name'] is required." });
    }
    if (typeof template.language?.code !== "string") {
      return graphError(100, {
        details: "The parameter template['language']['code'] is required.",
      });
    }
    const code = template.language.code;
    const found = this.templates.find((t) => t.name === template.name && t.language === code);
    if (!found) {
      return graphError(132001, {
        details: `template name (${template.name}) does not exist in ${code}`,
      });
    }
    const components = Array.isArray(template.components) ? template.components : [];
    const count = (kind: string) =>
      components.filter((c) => c?.type?.toLowerCase() === kind)
        .reduce((n, c) => n + (Array.isArray(c.parameters) ? c.parameters.length : 0), 0);
    const checks: Array<[string, number, number]> = [
      ["header", count("header"), found.header ? 1 : 0],
      ["body", count("body"), found.bodyParams],
      ["button", count("button"), found.buttonParams ?? 0],
    ];
    for (const [kind, given, expected] of checks) {
      if (given !== expected) {
        return graphError(132000, {
          details: `${kind}: number of localizable_params (${given}) does not match the ` +
            `expected number of params (${expected})`,
        });
      }
    }
    // The header's parameter in the template's format; a document header's by link or media id.
    const headerParam = components.find((c) => c?.type?.toLowerCase() === "header")
      ?.parameters?.[0] as Record<string, unknown> | undefined;
    let document: { link: string; filename?: string } | undefined;
    if (found.header && headerParam) {
      const given = headerParam[found.header] as Record<string, unknown> | undefined;
      const wrong = () =>
        graphError(132012, {
          details: `header: parameter of type ${String(headerParam.type)} does not match the ` +
            `template's ${found.header} header`,
        });
      if (found.header === "text") {
        if (headerParam.type !== "text" || typeof headerParam.text !== "string") return wrong();
      } else if (
        headerParam.type !== found.header || typeof given !== "object" || given === null ||
        (typeof given.link !== "string" && typeof given.id !== "string")
      ) {
        return wrong();
      } else if (typeof given.link === "string" && !/^https?:\/\/\S+$/.test(given.link)) {
        return graphError(131009, {
          details: `Param header['${found.header}']['link'] is not a valid URI.`,
        });
      } else if (found.header === "document" && typeof given.link === "string") {
        document = mediaOf(given);
      }
    }
    const texts = components.filter((c) => c?.type?.toLowerCase() === "body")
      .flatMap((c) => c.parameters ?? [])
      .map((p) => (p as { text?: unknown })?.text)
      .filter((t): t is string => typeof t === "string");
    return {
      name: found.name,
      category: found.category,
      text: texts.join(" | ") || undefined,
      document,
    };
  }

  /** The status webhooks of a send for a callback mode, in Meta's order. */
  private statuses(
    mode: CallbackMode,
    url: string,
    sent: SentMessage,
    errorCode: number | null,
  ): Delivery[] {
    const kinds = errorCode !== null
      ? ["failed"]
      : mode === "read_without_delivered"
      ? ["sent", "read"]
      : ["sent", "delivered", "read"];
    const conversationId = randomHex(32);
    return kinds.map((status) => ({
      event: status,
      url,
      providerMessageId: sent.id,
      build: () => {
        const now = Math.floor(Date.now() / 1000);
        const entry: Record<string, unknown> = {
          id: sent.id,
          status,
          timestamp: String(now),
          recipient_id: sent.recipient,
        };
        if (sent.opaque !== undefined) entry.biz_opaque_callback_data = sent.opaque;
        if (status === "failed") {
          const known = knownErrors[errorCode!];
          entry.errors = [{
            code: errorCode,
            title: known?.title ?? "Unknown error",
            message: known?.title ?? "Unknown error",
            error_data: { details: known?.details ?? "" },
            href: "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
          }];
        } else {
          entry.conversation = {
            id: conversationId,
            ...(status === "sent" ? { expiration_timestamp: String(now + 86400) } : {}),
            origin: { type: sent.category },
          };
          entry.pricing = {
            billable: sent.category !== "service",
            pricing_model: "CBP",
            category: sent.category,
          };
        }
        return this.signed({ statuses: [entry] });
      },
    }));
  }

  /** A webhook body around `value`, signed with the app secret. */
  private async signed(value: Record<string, unknown>) {
    const body = metaJson({
      object: "whatsapp_business_account",
      entry: [{
        id: wabaId,
        changes: [{
          value: {
            messaging_product: "whatsapp",
            metadata: {
              display_phone_number: displayPhoneNumber,
              phone_number_id: this.ctx.credentials.whatsappPhoneNumberId,
            },
            ...value,
          },
          field: "messages",
        }],
      }],
    });
    return {
      headers: {
        "content-type": "application/json",
        "user-agent": "facebookexternalua",
        "x-hub-signature-256": await whatsappSignature(
          this.ctx.credentials.whatsappAppSecret,
          body,
        ),
      },
      body,
    };
  }

  /**
   * Plays a customer's WhatsApp text message: POSTs it, signed, to webhooks.whatsapp and opens
   * the customer's 24-hour window. `from` may carry a leading `+`. Returns the inbound wamid and
   * the receiver's HTTP status.
   */
  async reply(from: string, text: string, name = "Sandbox Customer") {
    const url = this.ctx.webhooks.whatsapp;
    if (!url) throw new Error("no webhooks.whatsapp is set");
    const waId = from.replace(/^\+/, "");
    const id = wamid(waId);
    this.lastInbound.set(waId, Date.now());
    const status = await this.ctx.callbacks.deliverNow(this.state, {
      event: "inbound",
      url,
      providerMessageId: id,
      build: () =>
        this.signed({
          contacts: [{ profile: { name }, wa_id: waId }],
          messages: [{
            from: waId,
            id,
            timestamp: String(Math.floor(Date.now() / 1000)),
            text: { body: text },
            type: "text",
          }],
        }),
    }, { retries: 3, backoffMs: 200 });
    return { id, status };
  }
}
