// /api/me: the caller's own profile.
import { createRoute, z } from "@hono/zod-openapi";
import { AppRole, HierarchyLevel, orNull } from "../../_shared/domain.ts";
import { commonProblems, json, problem, signedIn } from "../../_shared/schemas.ts";

/** Where a person sits in the organisation. */
export const NodeRefSchema = z.object({
  id: z.guid(),
  code: z.string(),
  name: z.string(),
  level: HierarchyLevel,
  path: z.string().openapi({ example: "NORTH.DELHI.DEL_CP" }),
}).openapi("NodeRef");

/** A signed-in user's profile. */
export const ProfileSchema = z.object({
  id: z.guid(),
  email: z.string(),
  full_name: z.string(),
  role: AppRole,
  active: z.boolean(),
  node: orNull(NodeRefSchema).openapi({
    description: "Where the user sits; null for admins and analysts",
  }),
}).openapi("Profile");

/** GET /me. */
export const getMe = createRoute({
  operationId: "getMe",
  method: "get",
  path: "/me",
  tags: ["People"],
  summary: "The caller's own profile",
  ...signedIn,
  responses: {
    200: json("The profile", ProfileSchema),
    401: commonProblems[401],
    404: problem("The user has no profile"),
  },
});
