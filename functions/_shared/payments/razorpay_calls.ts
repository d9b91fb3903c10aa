// Every call that changes something at Razorpay, journaled: a row in private.razorpay_calls is
// written and committed before the request leaves, and finished when the answer is recorded. Razorpay takes
// no idempotency key for orders or payment links, so a crash between its answer and our commit
// leaves the subject `creating` with a pending journal row, and reconciliation looks it up by
// its receipt / reference_id instead of creating it twice (VENDORS.md §4, "Idempotency").
import { config } from "../config.ts";
import { asService } from "../db.ts";
import { ProblemError } from "../errors.ts";
import { log } from "../log.ts";
import { createRazorpayClient, RazorpayError } from "../razorpay/client.ts";

/** The client the payment paths use. */
export type Razorpay = ReturnType<typeof createRazorpayClient>;

let cached: { key: string; client: Razorpay } | undefined;

/**
 * The Razorpay client of this process's configuration. Throws a 503 problem naming the missing
 * variables when RAZORPAY_KEY_ID / RAZORPAY_KEY_SECRET are not set (before anything is written).
 */
export function razorpay(): Razorpay {
  const env = config();
  const status = env.vendors.razorpay;
  if (!status.enabled) {
    throw new ProblemError(503, "Service Unavailable", `Razorpay is ${status.reason}.`);
  }
  const key = `${env.RAZORPAY_BASE_URL}|${env.RAZORPAY_KEY_ID}`;
  if (cached?.key !== key) {
    cached = {
      key,
      client: createRazorpayClient({
        baseUrl: env.RAZORPAY_BASE_URL,
        keyId: env.RAZORPAY_KEY_ID!,
        keySecret: env.RAZORPAY_KEY_SECRET!,
        timeoutMs: env.PROVIDER_TIMEOUT_MS,
      }),
    };
  }
  return cached.client;
}

/** Razorpay's answer to a failed call, as a problem for our caller (never a secret in it). */
export function razorpayProblem(error: unknown): ProblemError {
  if (error instanceof RazorpayError && !error.retryable) {
    return new ProblemError(
      502,
      "Bad Gateway",
      `Razorpay refused the request: ${error.description ?? error.code ?? error.status}.`,
      { razorpay_code: error.code ?? null, field: error.field ?? null },
    );
  }
  return new ProblemError(
    503,
    "Service Unavailable",
    "Razorpay did not answer. Nothing is lost: the request is reconciled; try again shortly.",
    {},
    { "retry-after": "5" },
  );
}

/**
 * Makes the call whose journal row `callId` the database wrote (and committed) before it: the
 * functions that open an order, a payment link or a refund write it with the request. On
 * failure the row is finished as failed — `final` when Razorpay refused outright (its subject
 * becomes `failed`); not final when the call may have happened (no answer, 5xx, 429, 409: the
 * subject stays for reconciliation) — and a problem is thrown (razorpayProblem). On success the
 * caller records Razorpay's answer, which finishes the row in the same transaction.
 */
export async function callJournaled<T>(
  callId: string,
  operation: string,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const known = error instanceof RazorpayError;
    const final = known && !error.retryable;
    log("warn", "razorpay call failed", {
      operation,
      status: known ? error.status : 0,
      code: known ? error.code : undefined,
      final,
    });
    const detail = known
      ? { code: error.code, description: error.description }
      : { description: String(error) };
    await asService((tx) =>
      tx`select private.record_razorpay_call_failed(
           ${callId}, ${known ? error.status : 0}, ${tx.json(detail)}::jsonb, ${final})`
    ).catch((recordError) => log("error", "razorpay call not recorded", { recordError }));
    throw razorpayProblem(error);
  }
}

/**
 * A call that changes something at Razorpay and has no row of ours to open first (capturing a
 * payment, cancelling a link), journaled the same way: `operation` (`capture_payment`,
 * `cancel_payment_link`), the subject it concerns (our payments / payment_links id) and the
 * request (no secrets). The row is finished once the answer is in. Reads (fetches, lookups by
 * receipt) change nothing and are not journaled.
 */
export async function journaled<T>(
  operation: string,
  subjectId: string,
  request: Record<string, unknown>,
  call: () => Promise<T>,
): Promise<T> {
  const [{ call_id: callId }] = await asService((tx) =>
    tx<{ call_id: string }[]>`
      select private.start_razorpay_call(${operation}, ${subjectId}, ${
      tx.json(request as never)
    }::jsonb) as call_id`
  );
  const result = await callJournaled(callId, operation, call);
  await asService((tx) => tx`select private.finish_razorpay_call(${callId}, ${subjectId})`);
  return result;
}

/** A read from Razorpay (nothing changes there) for an API caller: failures become problems. */
export async function ask<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw razorpayProblem(error);
  }
}
