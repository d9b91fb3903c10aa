import { createRoute, z } from "@hono/zod-openapi";
import { commonProblems, json, problem, signedIn } from "../../_shared/schemas.ts";
import { AppRole, Level } from "../hierarchy/routes.ts";

export const NodeRefSchema = z.object({
  id: z.uuid(),
  code: z.string(),
  name: z.string(),
  level: Level,
  path: z.string().openapi({ example: "NORTH.DELHI.DEL_CP" }),
}).openapi("NodeRef");

export const ProfileSchema = z.object({
  id: z.uuid(),
  email: z.string(),
  full_name: z.string(),
  role: AppRole,
  active: z.boolean(),
  node: NodeRefSchema.nullable().openapi({
    description: "Where the user sits; null for admins and analysts",
  }),
}).openapi("Profile");

export const getMe = createRoute({
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
