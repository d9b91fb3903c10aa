// Turns a vendor's error code into a classified SendFailure through that vendor's table, with
// one documented default for codes the table does not know.
import type { ErrorRule, ErrorTable, SendFailure } from "./types.ts";

/**
 * The rule for a code no table knows: retried like a transient error (the dispatcher's retry
 * limit bounds it, then the channel's fallback, then `failed`), and never taken to mean the
 * address is dead. Conservative on purpose: an unknown code must neither drop a message at once
 * nor suppress a customer's address.
 */
export const unknownErrorRule: ErrorRule = {
  disposition: "transient",
  reason: "unclassified vendor error: retried with backoff, then the fallback",
};

/** The table's rule for `code` (refined by the error text), or unknownErrorRule. */
export function ruleFor(table: ErrorTable, code: string, text = ""): ErrorRule {
  const rule = Object.hasOwn(table, code) ? table[code] : undefined;
  if (!rule) return unknownErrorRule;
  const refined = rule.byMessage?.find(({ pattern }) => pattern.test(text))?.rule;
  return refined ?? rule;
}

/**
 * A SendFailure for a vendor error `code` with its text. `retryAfterMs` is the vendor's own
 * hint (header), which wins over the table's suggested wait.
 */
export function classifyError(
  table: ErrorTable,
  code: string,
  text: string,
  retryAfterMs?: number,
): SendFailure {
  const rule = ruleFor(table, code, text);
  const wait = retryAfterMs ?? rule.retryAfterMs;
  return {
    ok: false,
    disposition: rule.disposition,
    code,
    message: text ? `${rule.reason}: ${text}` : rule.reason,
    ...(wait === undefined ? {} : { retryAfterMs: wait }),
    ...(rule.addressDead ? { addressDead: true } : {}),
    ...(rule.throttled ? { throttled: true } : {}),
  };
}

/**
 * A SendFailure for an HTTP reply that carries no vendor error code (a proxy's 502, an HTML
 * 503, a bare 429): always transient, with code `http_<status>`.
 */
export function httpFailure(status: number, text: string, retryAfterMs?: number): SendFailure {
  return {
    ok: false,
    disposition: "transient",
    code: `http_${status}`,
    message: `HTTP ${status} without a vendor error code${text ? `: ${text.slice(0, 200)}` : ""}`,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(status === 429 ? { throttled: true } : {}),
  };
}

/**
 * A 2xx reply we cannot read a message id from: transient (code `invalid_response`). The vendor
 * may have accepted the message, so the dispatcher's retry can send it twice; the text says so.
 */
export function invalidResponse(vendor: string, text: string): SendFailure {
  return {
    ok: false,
    disposition: "transient",
    code: "invalid_response",
    message: `${vendor} answered success without a message id (it may have accepted the message)` +
      (text ? `: ${text.slice(0, 200)}` : ""),
  };
}

/** A message we cannot hand to this provider at all (no body, wrong channel): permanent. */
export function invalidMessage(text: string): SendFailure {
  return { ok: false, disposition: "permanent", code: "invalid_message", message: text };
}
