// Razorpay's answers as the sandbox's REST handlers give them (VENDORS.md §4): the error
// envelope (`"NA"` in source, step and reason for auth, URL and server errors; real values for
// validation errors, Razorpay docs orders/create), and the input checks its endpoints share
// (amounts in paise, currency, notes, unknown fields, list paging). Descriptions marked (v) are
// the sandbox's wording, not Razorpay's.
import { json } from "./http.ts";

/** The envelope of an auth, URL or server error: "NA" in source, step and reason. */
export function razorpayError(status: number, description: string, code?: string): Response {
  return json({
    error: {
      code: code ?? codeOfStatus(status),
      description,
      source: "NA",
      step: "NA",
      reason: "NA",
      metadata: {},
    },
  }, status);
}

/** The envelope of a validation error (VENDORS.md §4, Razorpay docs orders/create). */
export function validationError(field: string, description: string): Response {
  return json({
    error: {
      code: "BAD_REQUEST_ERROR",
      description,
      field,
      source: "business",
      step: "payment_initiation",
      reason: "input_validation_failed",
      metadata: {},
    },
  }, 400);
}

/** Razorpay's error code for an HTTP status. */
export function codeOfStatus(status: number): string {
  if (status === 502 || status === 504) return "GATEWAY_ERROR";
  if (status === 503) return "SERVICE_UNAVAILABLE";
  if (status >= 500) return "SERVER_ERROR";
  return "BAD_REQUEST_ERROR";
}

/** An unknown id in the path: 400 "The id provided does not exist". */
export const notFound = (): Response => razorpayError(400, "The id provided does not exist");

/** A path Razorpay does not serve. */
export const urlNotFound = (): Response =>
  razorpayError(400, "The requested URL was not found on the server.");

/** Checks an amount (paise): required, an integer, at least ₹1.00. */
export function amountError(value: unknown, field = "amount"): Response | null {
  if (value === undefined || value === null) {
    return validationError(field, `The ${field} field is required.`);
  }
  if (typeof value !== "number" || !Number.isInteger(value)) {
    return validationError(field, `The ${field} must be an integer.`);
  }
  if (value < 100) return validationError(field, `The ${field} must be at least INR 1.00`);
  return null;
}

/** Checks `notes`: an object of at most 15 keys, values of at most 256 characters (v). */
export function notesError(value: unknown): Response | null {
  if (value === undefined) return null;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return validationError("notes", "The notes must be an array. (v)");
  }
  const entries = Object.entries(value);
  if (entries.length > 15) {
    return validationError(
      "notes",
      "Number of fields in notes should be less than or equal to 15",
    );
  }
  for (const [, v] of entries) {
    if (typeof v === "object" && v !== null) {
      return validationError("notes", "The notes values must be strings or numbers (v)");
    }
    if (String(v).length > 256) {
      return validationError(
        "notes",
        "The notes value may not be greater than 256 characters. (v)",
      );
    }
  }
  return null;
}

/** Razorpay refuses fields it does not know: "x is/are not required and should not be sent". */
export function extraFieldsError(
  body: Record<string, unknown>,
  allowed: string[],
): Response | null {
  const extra = Object.keys(body).filter((k) => !allowed.includes(k));
  if (extra.length === 0) return null;
  return validationError(
    extra[0],
    `${extra.join(", ")} is/are not required and should not be sent`,
  );
}

/** Checks a currency: INR only (the account's); `required` when it may not be left out. */
export function currencyError(value: unknown, required: boolean, field = "currency") {
  if (value === undefined || value === null) {
    return required ? validationError(field, `The ${field} field is required.`) : null;
  }
  if (value !== "INR") return validationError(field, `The selected ${field} is invalid.`);
  return null;
}

/** `count` (default 10, at most 100) and `skip` of a list, newest first. */
export function page<T>(items: T[], url: URL): T[] {
  const count = Math.min(100, Math.max(1, Number(url.searchParams.get("count") ?? 10) || 10));
  const skip = Math.max(0, Number(url.searchParams.get("skip") ?? 0) || 0);
  return items.reverse().slice(skip, skip + count);
}
