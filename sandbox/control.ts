// The sandbox's control API (faults, callback modes, customer replies, reset) and inspection
// API (what each vendor accepted and called back), under /_control and /_inspect. Shapes are the
// lead's shared contract (notes/issue7_common.md); additions are marked as such.

import type { AwsVendor } from "./aws.ts";
import { json } from "./http.ts";
import type { OpenaiVendor } from "./openai.ts";
import type { RazorpayVendor } from "./razorpay.ts";
import { razorpayControl, razorpayInspect } from "./razorpay_control.ts";
import type { SendgridVendor } from "./sendgrid.ts";
import {
  type CallbackMode,
  callbackModes,
  type FailNext,
  isVendorCode,
  type VendorCode,
  type VendorFaults,
  type VendorState,
} from "./state.ts";
import type { TwilioVendor } from "./twilio.ts";
import { telegramControl, telegramInspect, type TelegramVendor } from "./telegram.ts";
import type { SandboxContext, SandboxWebhooks } from "./types.ts";
import type { WhatsappTemplate, WhatsappVendor } from "./whatsapp.ts";

/** The vendor modules the control API drives. */
export interface Vendors {
  twilio: TwilioVendor;
  aws: AwsVendor;
  sendgrid: SendgridVendor;
  whatsapp: WhatsappVendor;
  razorpay: RazorpayVendor;
  openai: OpenaiVendor;
  telegram: TelegramVendor;
}

/** A 400 with the reason, for a control request the sandbox cannot take. */
class ControlError extends Error {}

function problem(status: number, message: string): Response {
  return json({ error: message }, status);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Applies a `POST /_control/{code}` body to a vendor's faults: only the fields present change;
 * `failNext: null` clears a pending failure. Throws ControlError for a field out of range, and
 * then changes nothing (the fields are checked on a copy, which replaces the faults at the end).
 */
export function applyFaults(live: VendorFaults, body: Record<string, unknown>): void {
  // Shallow: failNext and callbacks are replaced whole below, never changed in place.
  const faults: VendorFaults = { ...live };
  const number = (name: string, min: number, max = Infinity) => {
    const value = body[name];
    if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
      throw new ControlError(
        `${name} must be a number from ${min}${max < Infinity ? ` to ${max}` : ""}`,
      );
    }
    return value;
  };
  if ("latencyMs" in body) faults.latencyMs = number("latencyMs", 0, 600_000);
  if ("errorRate" in body) faults.errorRate = number("errorRate", 0, 1);
  if ("outage" in body) {
    if (typeof body.outage !== "boolean") throw new ControlError("outage must be a boolean");
    faults.outage = body.outage;
  }
  if ("rateLimitPerSecond" in body) {
    faults.rateLimitPerSecond = body.rateLimitPerSecond === null
      ? null
      : number("rateLimitPerSecond", 1);
  }
  if ("failNext" in body) {
    const fail = body.failNext;
    if (fail === null) faults.failNext = null;
    else {
      if (!isObject(fail) || (typeof fail.code !== "string" && typeof fail.code !== "number")) {
        throw new ControlError("failNext must be { code: string | number, count?, status?, via? }");
      }
      const count = fail.count ?? 1;
      if (typeof count !== "number" || !Number.isInteger(count) || count < 1) {
        throw new ControlError("failNext.count must be a positive integer");
      }
      if (
        fail.status !== undefined &&
        (typeof fail.status !== "number" || !Number.isInteger(fail.status) || fail.status < 400 ||
          fail.status > 599)
      ) {
        throw new ControlError("failNext.status must be an HTTP status");
      }
      if (fail.via !== undefined && fail.via !== "response" && fail.via !== "callback") {
        throw new ControlError('failNext.via must be "response" or "callback"');
      }
      if (
        fail.path !== undefined && (typeof fail.path !== "string" || !fail.path.startsWith("/"))
      ) {
        throw new ControlError("failNext.path must be a path starting with /");
      }
      faults.failNext = {
        code: fail.code,
        count,
        status: fail.status as number | undefined,
        via: fail.via as FailNext["via"],
        ...(fail.path === undefined ? {} : { path: fail.path as string }),
      };
    }
  }
  if ("callbacks" in body) {
    const callbacks = body.callbacks;
    if (!isObject(callbacks) || !callbackModes.includes(callbacks.mode as CallbackMode)) {
      throw new ControlError(`callbacks.mode must be one of ${callbackModes.join(", ")}`);
    }
    const delayMs = callbacks.delayMs;
    if (
      delayMs !== undefined &&
      (typeof delayMs !== "number" || !Number.isFinite(delayMs) || delayMs < 0)
    ) {
      throw new ControlError("callbacks.delayMs must be a number from 0");
    }
    faults.callbacks = { mode: callbacks.mode as CallbackMode, delayMs };
  }
  Object.assign(live, faults);
}

/** Handles /_control and /_inspect requests; `path` starts with one of them. */
export async function handleControl(
  request: Request,
  path: string,
  ctx: SandboxContext,
  vendors: Vendors,
): Promise<Response> {
  const url = new URL(request.url);
  const parts = path.split("/").filter(Boolean);
  const [area, code, action] = parts;
  try {
    if (area === "_inspect" && request.method === "GET") {
      return inspect(ctx, vendors, code, action, url);
    }
    if (area !== "_control") return problem(404, "not found");
    if (request.method === "GET" && code && isVendorCode(code) && !action) {
      if (code === "openai") {
        return json({ ...ctx.states.openai.faults, ...vendors.openai.switches });
      }
      return json(ctx.states[code].faults);
    }
    if (request.method !== "POST") return problem(405, "use POST");
    const text = await request.text();
    let body: unknown = {};
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        return problem(400, "the body is not JSON");
      }
    }
    if (!isObject(body)) return problem(400, "the body must be a JSON object");

    if (code === "reset" && parts.length === 2) {
      ctx.callbacks.cancelAll();
      for (const state of Object.values(ctx.states)) state.reset();
      vendors.twilio.reset();
      vendors.aws.reset();
      vendors.whatsapp.reset();
      vendors.razorpay.reset();
      vendors.openai.reset();
      vendors.telegram.reset();
      return json({ ok: true });
    }
    if (code === "webhooks" && parts.length === 2) {
      setWebhooks(ctx.webhooks, body);
      return json(ctx.webhooks);
    }
    if (!code || !isVendorCode(code)) return problem(404, `unknown vendor ${code}`);
    const state: VendorState = ctx.states[code];
    if (parts.length === 2) {
      applyFaults(state.faults, body);
      if (code === "aws_ses" && "snsSignatureVersion" in body) {
        if (body.snsSignatureVersion !== "1" && body.snsSignatureVersion !== "2") {
          throw new ControlError('snsSignatureVersion must be "1" or "2"');
        }
        vendors.aws.snsHttp.signatureVersion = body.snsSignatureVersion;
      }
      if (code === "whatsapp_cloud" && "enforceWindow" in body) {
        if (typeof body.enforceWindow !== "boolean") {
          throw new ControlError("enforceWindow must be a boolean");
        }
        vendors.whatsapp.enforceWindow = body.enforceWindow;
      }
      if (code === "openai") {
        const refused = vendors.openai.applySwitches(body);
        if (refused) throw new ControlError(refused);
        return json({ ...state.faults, ...vendors.openai.switches });
      }
      return json(state.faults);
    }
    if (code === "razorpay") {
      return razorpayControl(vendors.razorpay, ctx, parts.slice(2).join("/"), body);
    }
    if (code === "telegram" && action && parts.length === 3) {
      const answer = await telegramControl(vendors.telegram, action, body);
      if (answer) return answer;
    }
    if (action === "reply" && parts.length === 3) return await reply(code, body, vendors);
    if (code === "whatsapp_cloud" && action === "templates" && parts.length === 3) {
      vendors.whatsapp.templates = templates(body, vendors.whatsapp.templates);
      return json(vendors.whatsapp.templates);
    }
    if (code === "aws_ses" && action === "subscription-confirmation" && parts.length === 3) {
      if (!ctx.webhooks.sesSns) return problem(409, "no webhooks.sesSns is set");
      const region = typeof body.region === "string" ? body.region : "ap-south-1";
      return json(await vendors.aws.confirmSubscription(region));
    }
    return problem(404, "not found");
  } catch (error) {
    if (error instanceof ControlError) return problem(400, error.message);
    throw error;
  }
}

/** `POST /_control/{code}/reply {from, text}`: a customer replying. */
async function reply(code: VendorCode, body: Record<string, unknown>, vendors: Vendors) {
  if (typeof body.from !== "string" || typeof body.text !== "string" || body.text === "") {
    throw new ControlError("reply needs { from: string, text: string }");
  }
  if (code === "twilio") {
    if (!/^\+[1-9]\d{6,14}$/.test(body.from)) throw new ControlError("from must be E.164");
    try {
      return json(await vendors.twilio.reply(body.from, body.text));
    } catch (error) {
      return problem(409, (error as Error).message);
    }
  }
  if (code === "whatsapp_cloud") {
    if (!/^\+?[1-9]\d{6,14}$/.test(body.from)) {
      throw new ControlError("from must be a phone number");
    }
    try {
      const name = typeof body.name === "string" ? body.name : undefined;
      return json(await vendors.whatsapp.reply(body.from, body.text, name));
    } catch (error) {
      return problem(409, (error as Error).message);
    }
  }
  return problem(404, `${code} has no customer replies`);
}

/** `POST /_control/whatsapp_cloud/templates {templates, replace?}` (an addition). */
function templates(body: Record<string, unknown>, current: WhatsappTemplate[]) {
  if (!Array.isArray(body.templates)) throw new ControlError("templates must be an array");
  const given = body.templates.map((t): WhatsappTemplate => {
    if (
      !isObject(t) || typeof t.name !== "string" || typeof t.language !== "string" ||
      !["utility", "marketing", "authentication"].includes(t.category as string) ||
      typeof t.bodyParams !== "number" || !Number.isInteger(t.bodyParams) || t.bodyParams < 0 ||
      (t.header !== undefined &&
        !["text", "document", "image", "video"].includes(t.header as string)) ||
      (t.buttonParams !== undefined && t.buttonParams !== 0 && t.buttonParams !== 1)
    ) {
      throw new ControlError(
        "each template is { name, language, category: utility|marketing|authentication, " +
          "bodyParams: integer, header?: text|document|image|video, buttonParams?: 0|1 }",
      );
    }
    return t as unknown as WhatsappTemplate;
  });
  const kept = body.replace === true
    ? []
    : current.filter((c) => !given.some((g) => g.name === c.name && g.language === c.language));
  return [...kept, ...given];
}

function setWebhooks(webhooks: SandboxWebhooks, body: Record<string, unknown>) {
  for (const name of ["whatsapp", "sesSns", "sendgrid", "twilioInbound", "razorpay"] as const) {
    if (!(name in body)) continue;
    const value = body[name];
    if (value === null) delete webhooks[name];
    else if (typeof value === "string" && URL.canParse(value)) webhooks[name] = value;
    else throw new ControlError(`${name} must be a URL or null`);
  }
}

/** `GET /_inspect/{code}/requests|callbacks` (+ additions: subscriptions, templates). */
function inspect(
  ctx: SandboxContext,
  vendors: Vendors,
  code: string | undefined,
  what: string | undefined,
  url: URL,
): Response {
  if (!code || !isVendorCode(code)) return problem(404, `unknown vendor ${code}`);
  const state = ctx.states[code];
  if (what === "requests") {
    const ourId = url.searchParams.get("ourId");
    return json(ourId === null ? state.requests : state.requests.filter((r) => r.ourId === ourId));
  }
  if (what === "callbacks") return json(state.callbacks);
  if (what === "subscriptions" && code === "aws_ses") {
    return json(vendors.aws.snsHttp.subscriptions);
  }
  if (what === "templates" && code === "whatsapp_cloud") return json(vendors.whatsapp.templates);
  if (code === "telegram" && what) {
    const answer = telegramInspect(vendors.telegram, what);
    if (answer) return answer;
  }
  if (code === "razorpay" && what) {
    const answer = razorpayInspect(vendors.razorpay, what, url);
    if (answer) return answer;
  }
  return problem(404, "not found");
}
