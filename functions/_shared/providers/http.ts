// What every provider call shares: a deadline joined to the caller's AbortSignal, failures
// that are not the vendor's answer (timeout, abort, network) turned into transient results,
// and the vendors' wait hints (Retry-After, SendGrid's X-RateLimit-Reset) read as milliseconds.
import { redact } from "../log.ts";
import type { SendFailure, SendResult } from "./types.ts";

/** A vendor's wait hint is capped at this (one hour, in ms); the dispatcher's limits govern. */
export const maxRetryAfterMs = 3_600_000;

function capped(ms: number): number {
  return Math.min(Math.max(0, Math.round(ms)), maxRetryAfterMs);
}

/**
 * The `Retry-After` header in milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3),
 * never negative, at most maxRetryAfterMs; undefined when absent or unreadable.
 */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | undefined {
  const value = headers.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return capped(Number(value) * 1000);
  // HTTP dates (IMF-fixdate and the two obsolete forms) all open with the day's name.
  if (!/^[A-Za-z]{3}/.test(value)) return undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : capped(date - now);
}

/**
 * SendGrid's `X-RateLimit-Reset` (a Unix timestamp in seconds, not a delay; SendGrid v3 "Rate
 * Limits") as milliseconds from `now`; undefined when absent or unreadable.
 */
export function rateLimitResetMs(
  value: string | null,
  now: number = Date.now(),
): number | undefined {
  if (!value || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  return capped(Number(value) * 1000 - now);
}

/** An error's name and message, with anything shaped like a bearer token redacted. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
    return String(redact(`${error.name}: ${error.message}${cause}`));
  }
  return String(redact(String(error)));
}

/**
 * Runs one vendor call under a deadline of `timeoutMs` joined to the caller's `signal`, and
 * turns whatever it throws into a transient failure: `timeout` (the deadline passed; the vendor
 * may still have accepted the message), `aborted` (the caller gave up), or `network` (connection
 * refused or reset, DNS, TLS, an unreadable reply). Never rejects.
 */
export async function withDeadline(
  vendor: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  call: (signal: AbortSignal) => Promise<SendResult>,
): Promise<SendResult> {
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new DOMException(`${vendor} timed out`, "TimeoutError")),
    timeoutMs,
  );
  const joined = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
  try {
    if (signal?.aborted) return aborted(vendor);
    return await call(joined);
  } catch (error) {
    if (deadline.signal.aborted) {
      return {
        ok: false,
        disposition: "transient",
        code: "timeout",
        message:
          `${vendor} gave no answer within ${timeoutMs} ms (it may have accepted the message)`,
      };
    }
    if (signal?.aborted) return aborted(vendor);
    return {
      ok: false,
      disposition: "transient",
      code: "network",
      message: `${vendor} unreachable: ${describeError(error)}`,
    };
  } finally {
    clearTimeout(timer);
  }
}

function aborted(vendor: string): SendFailure {
  return {
    ok: false,
    disposition: "transient",
    code: "aborted",
    message: `the send to ${vendor} was cancelled by the caller`,
  };
}

/** `text` parsed as a JSON object, or undefined (not JSON, or not an object). */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value)
      ? value as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}
