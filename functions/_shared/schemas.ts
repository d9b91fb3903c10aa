// OpenAPI building blocks shared by every function's routes: problem answers, JSON bodies, who
// may call a route. The domain's enums and shapes live in domain.ts.
import { z } from "@hono/zod-openapi";
import { requireUser } from "./auth.ts";
import { problemContentType } from "./errors.ts";

/** The RFC 9457 problem object every error answer carries (see errors.ts). */
export const ProblemSchema = z.object({
  type: z.string().openapi({ example: "about:blank" }),
  title: z.string().openapi({ example: "Unprocessable Content" }),
  status: z.number().int().openapi({ example: 422 }),
  detail: z.string().optional(),
  instance: z.string().optional(),
  code: z.string().optional().openapi({ description: "SQLSTATE of a database error" }),
  errors: z.array(z.object({ path: z.string(), code: z.string(), message: z.string() }))
    .optional()
    .openapi({ description: "Each schema violation, for 422 answers" }),
}).openapi("Problem", { description: "RFC 9457 problem details" });

/** A problem+json response entry for createRoute's `responses`. */
export function problem(description: string) {
  return { description, content: { [problemContentType]: { schema: ProblemSchema } } };
}

/** A JSON response entry for createRoute's `responses`. */
export function json<T extends z.ZodType>(description: string, schema: T) {
  return { description, content: { "application/json": { schema } } };
}

/** A required JSON request body: a body without `Content-Type: application/json` is refused. */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}

/** Spread into createRoute: the route needs a signed-in user (and says so in the document). */
export const signedIn = {
  security: [{ bearerAuth: [] }],
  middleware: requireUser,
};

/** The problems every signed-in route can answer with. */
export const commonProblems = {
  401: problem("No token, or an invalid or expired one"),
  422: problem("The request did not match the schema"),
};

/** A uuid path parameter `name` for createRoute's `request.params`. */
export const uuidParam = (name: string, description: string) =>
  z.guid().openapi({ param: { name, in: "path" }, description });
