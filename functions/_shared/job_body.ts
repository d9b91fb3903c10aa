// The body of a job endpoint (dispatch, reconcile, the oauth refresh): optional JSON checked by zod.
import type { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ProblemError, validationProblem } from "./errors.ts";

/**
 * Reads a job endpoint's optional JSON body (an empty one counts as `{}`) with `schema`: the
 * parsed data, or the 422 problem+json response listing zod's issues. A body that is not JSON
 * throws a 400 ProblemError.
 */
export async function readJobBody<S extends z.ZodType>(
  c: Context,
  schema: S,
): Promise<{ ok: true; data: z.output<S> } | { ok: false; response: Response }> {
  const text = await c.req.text();
  let body: unknown = {};
  if (text.trim() !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      throw new ProblemError(400, "Bad Request", "The body is not JSON.");
    }
  }
  const parsed = schema.safeParse(body);
  return parsed.success
    ? { ok: true, data: parsed.data }
    : { ok: false, response: validationProblem(parsed.error, new URL(c.req.url).pathname) };
}
