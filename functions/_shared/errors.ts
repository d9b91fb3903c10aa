// RFC 9457 problem details, and the one table that maps database errors to HTTP statuses.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodError } from "zod";
import { log } from "./log.ts";

export const problemContentType = "application/problem+json";

export interface Problem {
  type: string;
  title: string;
  status: ContentfulStatusCode;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
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
}

export const notFound = (what = "resource") =>
  new ProblemError(404, "Not Found", `No such ${what}, or you may not see it.`);

/**
 * SQLSTATE → HTTP status. The PYnnn codes are our own, raised by the migrations:
 *   PY001 invalid hierarchy (a node under the wrong level or parent)   → 422
 *   PY002 illegal renewal stage transition                              → 409
 *   PY003 a privileged change (role, node) by someone who may not      → 403
 *   PY004 changing an installment that is already paid or waived        → 409
 * The rest are the Postgres errors a request can provoke.
 */
const sqlStates: Record<string, { status: ContentfulStatusCode; title: string }> = {
  PY001: { status: 422, title: "Invalid Hierarchy" },
  PY002: { status: 409, title: "Illegal Stage Transition" },
  PY003: { status: 403, title: "Forbidden Change" },
  PY004: { status: 409, title: "Installment Settled" },
  "23505": { status: 409, title: "Conflict" }, // unique_violation
  "23503": { status: 409, title: "Conflict" }, // foreign_key_violation: still referenced
  "23514": { status: 422, title: "Unprocessable Content" }, // check_violation
  "23502": { status: 422, title: "Unprocessable Content" }, // not_null_violation
  "22P02": { status: 400, title: "Bad Request" }, // invalid_text_representation
  "22007": { status: 400, title: "Bad Request" }, // invalid_datetime_format
  "22008": { status: 400, title: "Bad Request" }, // datetime_field_overflow
  "42501": { status: 403, title: "Forbidden" }, // insufficient_privilege, RLS check failures
  "P0002": { status: 404, title: "Not Found" }, // no_data_found
  "57014": { status: 503, title: "Service Unavailable" }, // query_canceled: statement timeout
};

/** A foreign key violation is the caller's bad reference on insert or update, a conflict on delete. */
function statusForPostgresError(error: { code: string; message: string }) {
  if (error.code === "23503" && error.message.startsWith("insert or update")) {
    return { status: 422 as const, title: "Unprocessable Content" };
  }
  return sqlStates[error.code];
}

export function problemResponse(problem: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(problem), {
    status: problem.status,
    headers: { "content-type": problemContentType, ...headers },
  });
}

/** The 422 answer to a request that failed its zod schema, listing every issue. */
export function validationProblem(error: ZodError, instance?: string): Response {
  return problemResponse({
    type: "about:blank",
    title: "Unprocessable Content",
    status: 422,
    detail: "The request did not match the schema.",
    instance,
    errors: error.issues.map((issue) => ({
      path: issue.path.join("."),
      code: issue.code,
      message: issue.message,
    })),
  });
}

const reasonPhrases: Partial<Record<ContentfulStatusCode, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  413: "Content Too Large",
  415: "Unsupported Media Type",
};

function isPostgresError(error: unknown): error is Error & { code: string; detail?: string } {
  return error instanceof Error && error.name === "PostgresError" && "code" in error;
}

/** The app's onError: every thrown error becomes problem+json; unknown ones are logged as 500s. */
export function handleError(error: Error, c: Context): Response {
  const instance = new URL(c.req.url).pathname;
  const requestId = c.get("requestId") as string | undefined;
  if (error instanceof ProblemError) {
    return problemResponse({
      type: "about:blank",
      title: error.title,
      status: error.status,
      detail: error.detail,
      instance,
      ...error.extensions,
    }, error.headers);
  }
  if (error instanceof HTTPException) {
    // Hono's own refusals: malformed JSON (400), a body that is not JSON (415), ...
    const status = error.status as ContentfulStatusCode;
    return problemResponse({
      type: "about:blank",
      title: reasonPhrases[status] ?? "Error",
      status,
      detail: status === 415 ? "Send the body as application/json." : error.message,
      instance,
    });
  }
  if (isPostgresError(error)) {
    const mapped = statusForPostgresError(error);
    if (mapped) {
      return problemResponse({
        type: "about:blank",
        ...mapped,
        detail: error.message,
        instance,
        code: error.code,
      });
    }
  }
  log("error", "unhandled error", { request_id: requestId, path: instance, error });
  return problemResponse({
    type: "about:blank",
    title: "Internal Server Error",
    status: 500,
    detail: `Something went wrong; quote request id ${requestId ?? "unknown"}.`,
    instance,
  });
}
