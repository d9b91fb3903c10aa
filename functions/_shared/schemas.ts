// OpenAPI schemas shared by every function's routes.
import { z } from "@hono/zod-openapi";
import { problemContentType } from "./errors.ts";

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

export const bearerAuth = [{ bearerAuth: [] }];
