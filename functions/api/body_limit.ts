// The API's limit on a request body: a JSON body (every route but the document upload, which has
// its own, DOCUMENT_MAX_BYTES) of more than 1 MiB is refused with 413 before it is read whole. The
// largest body a route takes is a bulk-status of 1,000 ids, about 40 KB.
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../_shared/app.ts";
import { ProblemError } from "../_shared/errors.ts";

/** The most bytes a JSON request body may hold. */
export const maxJsonBodyBytes = 1024 * 1024;

/**
 * Middleware: a 413 problem for a request body over maxJsonBodyBytes, from its Content-Length or
 * as soon as a body without one grows past it; multipart bodies (documents) pass to their own.
 */
export const jsonBodyLimit = createMiddleware<AppEnv>((c, next) => {
  if (/^multipart\/form-data/i.test(c.req.header("content-type") ?? "")) return next();
  return bodyLimit({
    maxSize: maxJsonBodyBytes,
    onError: () => {
      throw new ProblemError(
        413,
        "Content Too Large",
        `A request body may be at most ${maxJsonBodyBytes} bytes.`,
        { max_bytes: maxJsonBodyBytes },
      );
    },
  })(c, next);
});
