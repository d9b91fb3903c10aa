import { createRoute, z } from "@hono/zod-openapi";
import { bearerAuth, problem } from "../../_shared/schemas.ts";

export const ProfileSchema = z.object({
  id: z.uuid(),
  email: z.string(),
  full_name: z.string(),
  role: z.enum(["admin", "manager", "agent", "analyst"]),
  active: z.boolean(),
  node: z.object({
    id: z.uuid(),
    code: z.string(),
    name: z.string(),
    level: z.enum(["zone", "region", "branch", "team"]),
    path: z.string().openapi({ example: "NORTH.DELHI.DEL_CP" }),
  }).nullable().openapi({ description: "Where the user sits; null for admins and analysts" }),
}).openapi("Profile");

export const getMe = createRoute({
  method: "get",
  path: "/me",
  tags: ["People"],
  summary: "The caller's own profile",
  security: bearerAuth,
  responses: {
    200: { description: "The profile", content: { "application/json": { schema: ProfileSchema } } },
    401: problem("No token, or an invalid or expired one"),
    404: problem("The user has no profile"),
  },
});
