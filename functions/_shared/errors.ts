// RFC 9457 problem details, and the one table that maps database errors to HTTP statuses.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodError } from "zod";
import type { core } from "zod";
import { log } from "./log.ts";

/** The media type of every error answer. */
export const problemContentType = "application/problem+json";

/** An RFC 9457 problem object as the API sends it; extensions such as `code` sit beside. */
export interface Problem {
  type: string;
  title: string;
  status: ContentfulStatusCode;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

/** Reason phrases of the statuses this project answers with: a problem's default title. */
const reasonPhrases: Partial<Record<ContentfulStatusCode, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** What a problem says beyond its status; `title` defaults to the status's reason phrase. */
export interface ProblemOptions {
  title?: string;
  detail?: string;
  /** The path the problem happened at. */
  instance?: string;
  /** Extra members of the problem object (RFC 9457 extensions): `code`, `errors`, ... */
  extensions?: Record<string, unknown>;
  headers?: Record<string, string>;
}

/**
 * The one problem+json factory: every error answer of the app, its notFound, its error handler
 * and the functions gateway is made here (RFC 9457, `type` about:blank).
 */
export function problemResponse(
  status: ContentfulStatusCode,
  { title, detail, instance, extensions = {}, headers = {} }: ProblemOptions = {},
): Response {
  const problem: Problem = {
    type: "about:blank",
    title: title ?? reasonPhrases[status] ?? "Error",
    status,
    detail,
    instance,
    ...extensions,
  };
  return new Response(JSON.stringify(problem), {
    status,
    headers: { "content-type": problemContentType, ...headers },
  });
}

/** Thrown anywhere in a handler; the app's error handler answers with it as problem+json. */
export class ProblemError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly title: string,
    readonly detail?: string,
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
  }

  /** This problem as a problem+json response about `instance` (a path). */
  toResponse(instance?: string): Response {
    return problemResponse(this.status, {
      title: this.title,
      detail: this.detail,
      instance,
      extensions: this.extensions,
      headers: this.headers,
    });
  }
}

/** The 404 of a row that does not exist or that row-level security hides: the two look alike. */
export const notFound = (what = "resource") =>
  new ProblemError(404, "Not Found", `No such ${what}, or you may not see it.`);

/**
 * SQLSTATE → HTTP status. The PYnnn codes are our own, raised by the migrations:
 *   PY001 invalid hierarchy (a node under the wrong level or parent)              → 422
 *   PY002 illegal renewal stage transition                                         → 409
 *   PY003 a privileged change (role, node, waiver) by someone who may not         → 403
 *   PY004 changing an installment that is already paid or waived                   → 409
 *   PY005 a renewal rule not met (renewed with something outstanding; pending_lapse
 *         or lapsed set by anyone but the daily jobs, or before the dates allow)  → 409
 *   PY006 the case is closed (renewed, lapsed, lost, not_taken): no settlement or
 *         change                                                                   → 409
 *   PY007 invalid assignee: cases go only to active agents                         → 409
 *   PY008 a payment dated in the future                                            → 422
 *   PY009 a template that fails its lint (the reasons are the error's detail)     → 422
 *   PY010 nothing is due on the case: no order or payment link to make             → 409
 *   PY011 the client's amount disagrees with what the database says is due         → 422
 *   PY012 a refund beyond what the payment still has to refund                     → 409
 *   PY013 payments are switched off (ENABLE_PAYMENT_LINKS is not true): no order,
 *         payment link or autopay is opened                                        → 409
 *   PY014 a grant over the customer's own opt-out (an SMS STOP, a WhatsApp or email
 *         opt-out, the withdrawal link): only the customer gives it again          → 409
 * A PY error whose detail is a JSON array of strings (PY009's reasons) carries it to the problem
 * as the extension `reasons`. The rest are the Postgres errors a request can provoke. tests/functions/errors.test.ts holds
 * this comment, the table below and every `errcode = 'PY...'` in migrations/ in step.
 */
export const sqlStates: Readonly<
  Record<string, { readonly status: ContentfulStatusCode; readonly title: string }>
> = {
  PY001: { status: 422, title: "Invalid Hierarchy" },
  PY002: { status: 409, title: "Illegal Stage Transition" },
  PY003: { status: 403, title: "Forbidden Change" },
  PY004: { status: 409, title: "Installment Settled" },
  PY005: { status: 409, title: "Renewal Rule Not Met" },
  PY006: { status: 409, title: "Case Closed" },
  PY007: { status: 409, title: "Invalid Assignee" },
  PY008: { status: 422, title: "Payment Dated In The Future" },
  PY009: { status: 422, title: "Template Lint Failed" },
  PY010: { status: 409, title: "Nothing Due" },
  PY011: { status: 422, title: "Amount Mismatch" },
  PY012: { status: 409, title: "Not Refundable" },
  PY013: { status: 409, title: "Payments Switched Off" },
  PY014: { status: 409, title: "Customer Opted Out" },
  "23505": { status: 409, title: "Conflict" }, // unique_violation
  "23503": { status: 409, title: "Conflict" }, // foreign_key_violation: still referenced
  "23514": { status: 422, title: "Unprocessable Content" }, // check_violation
  "23502": { status: 422, title: "Unprocessable Content" }, // not_null_violation
  "22P02": { status: 400, title: "Bad Request" }, // invalid_text_representation
  "22007": { status: 400, title: "Bad Request" }, // invalid_datetime_format
  "22008": { status: 400, title: "Bad Request" }, // datetime_field_overflow
  // invalid_parameter_value: a request a function of ours refuses as malformed, such as the
  // outbox's gate (a template code with no active template, a request missing its parts).
  "22023": { status: 422, title: "Unprocessable Content" },
  "42501": { status: 403, title: "Forbidden" }, // insufficient_privilege, RLS check failures
  "P0002": { status: 404, title: "Not Found" }, // no_data_found
  // object_not_in_prerequisite_state: an action the object's state does not allow now (a
  // campaign paused that is not running, resumed that is not paused, cancelled twice).
  "55000": { status: 409, title: "Conflict" },
  "57014": { status: 503, title: "Service Unavailable" }, // query_canceled: statement timeout
  "40P01": { status: 503, title: "Service Unavailable" }, // deadlock_detected: try again
  "22P05": { status: 422, title: "Unprocessable Content" }, // untranslatable_character (\u0000)
  "22021": { status: 422, title: "Unprocessable Content" }, // character_not_in_repertoire
  "40001": { status: 503, title: "Service Unavailable" }, // serialization_failure: try again
};

/** A foreign key violation is the caller's bad reference on insert or update, a conflict on delete. */
function statusForPostgresError(error: { code: string; message: string }) {
  if (error.code === "23503" && error.message.startsWith("insert or update")) {
    return { status: 422 as const, title: "Unprocessable Content" };
  }
  return sqlStates[error.code];
}

type ZodIssue = core.$ZodIssue;

/** One schema violation as the 422 lists it. */
interface ReportedIssue {
  path: string;
  code: string;
  message: string;
}

/**
 * The issues worth telling a caller. A value that may also be null (`orNull(...)`) fails as a
 * union of "not this" and "not null"; the caller learns what was wrong with the value instead.
 */
function reportedIssues(issues: readonly ZodIssue[], prefix: PropertyKey[] = []): ReportedIssue[] {
  return issues.flatMap((issue) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === "invalid_union") {
      const meant = issue.errors.filter((branch) =>
        !branch.every((inner) => inner.code === "invalid_type" && inner.expected === "null")
      );
      if (meant.length === 1) return reportedIssues(meant[0], path);
    }
    return [{ path: path.map(String).join("."), code: issue.code, message: issue.message }];
  });
}

/** The 422 answer to a request that failed its zod schema, listing every issue. */
export function validationProblem(error: ZodError, instance?: string): Response {
  return problemResponse(422, {
    detail: "The request did not match the schema.",
    instance,
    extensions: { errors: reportedIssues(error.issues) },
  });
}

function isPostgresError(error: unknown): error is Error & { code: string; detail?: string } {
  return error instanceof Error && error.name === "PostgresError" && "code" in error;
}

/** postgres.js's own codes for a connection that failed, and the socket errors beneath them. */
const connectionErrorCodes = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
]);

/**
 * Whether `error` says the database could not be reached or went away (a restart, a failover,
 * a terminated backend), so that the same statement may succeed on a new connection: postgres.js
 * connection errors, SQLSTATE class 08 (connection exception), 57P01-57P03 (shut down, crashed,
 * starting up; Postgres appendix A), and the 503 of db.ts's DatabaseUnavailable. A statement's
 * own error (a constraint, a bug) is not one.
 */
export function isConnectionFailure(error: unknown): boolean {
  if (error instanceof ProblemError) return error.status === 503;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return connectionErrorCodes.has(code) || code.startsWith("08") ||
    ["57P01", "57P02", "57P03"].includes(code);
}

/**
 * `{reasons}` when one of our own errors (a PY code) lists its reasons in its detail as a JSON
 * array of strings, as the template lint's PY009 does; `{}` for any other error or detail.
 */
export function reasonsOf(error: { code: string; detail?: string }): { reasons?: string[] } {
  if (!error.code.startsWith("PY") || !error.detail?.startsWith("[")) return {};
  try {
    const parsed: unknown = JSON.parse(error.detail);
    if (Array.isArray(parsed) && parsed.every((reason) => typeof reason === "string")) {
      return { reasons: parsed };
    }
  } catch {
    // A detail in words, not a list: nothing to carry.
  }
  return {};
}

/** The app's onError: every thrown error becomes problem+json; unknown ones are logged as 500s. */
export function handleError(error: Error, c: Context): Response {
  const instance = new URL(c.req.url).pathname;
  const requestId = c.get("requestId") as string | undefined;
  if (error instanceof ProblemError) return error.toResponse(instance);
  if (error instanceof HTTPException) {
    // Hono's own refusals: malformed JSON (400), a body that is not JSON (415), ...
    const status = error.status as ContentfulStatusCode;
    return problemResponse(status, {
      detail: status === 415 ? "Send the body as application/json." : error.message,
      instance,
    });
  }
  if (isConnectionFailure(error)) {
    // An outage, not a bug: the caller (a vendor's webhook delivery) tries again later.
    log("warn", "database unreachable", { request_id: requestId, path: instance, error });
    return problemResponse(503, {
      detail: "The database is not available; try again shortly.",
      instance,
      headers: { "retry-after": "5" },
    });
  }
  if (isPostgresError(error)) {
    const mapped = statusForPostgresError(error);
    if (mapped) {
      return problemResponse(mapped.status, {
        title: mapped.title,
        detail: error.message,
        instance,
        extensions: { code: error.code, ...reasonsOf(error) },
      });
    }
  }
  log("error", "unhandled error", { request_id: requestId, path: instance, error });
  return problemResponse(500, {
    detail: `Something went wrong; quote request id ${requestId ?? "unknown"}.`,
    instance,
  });
}
