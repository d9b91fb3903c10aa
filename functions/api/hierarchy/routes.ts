// /api/hierarchy: the organisation tree, its nodes and the people in them.
import { createRoute, z } from "@hono/zod-openapi";
import { AppRole, HierarchyLevel } from "../../_shared/domain.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

/** A node of the organisation tree; `path` is its ltree path of codes from the zone down. */
export const NodeSchema = z.object({
  id: z.guid(),
  parent_id: z.guid().nullable(),
  level: HierarchyLevel,
  code: z.string().openapi({ example: "DEL_CP" }),
  name: z.string().openapi({ example: "Connaught Place" }),
  path: z.string().openapi({ example: "NORTH.DELHI.DEL_CP" }),
  active: z.boolean(),
}).openapi("HierarchyNode");

type TreeNode = z.infer<typeof NodeSchema> & { children: TreeNode[] };
/** A node with its visible children, recursively. */
export const TreeNodeSchema: z.ZodType<TreeNode> = NodeSchema.extend({
  children: z.array(z.lazy(() => TreeNodeSchema)),
}).openapi("HierarchyTreeNode");

const Code = z.string().regex(/^[A-Z][A-Z0-9_]{1,31}$/, "upper case letters, digits and _").openapi(
  {
    example: "DEL_CP_MOTOR",
  },
);
const Name = z.string().trim().min(1).max(200);

/** A node to add: the columns `authenticated` may insert. */
export const NewNodeSchema = z.object({
  parent_id: z.guid().nullable().openapi({ description: "null for a zone" }),
  level: HierarchyLevel,
  code: Code,
  name: Name,
}).openapi("NewHierarchyNode");

/** A change to a node: the columns `authenticated` may update. */
export const NodeChangeSchema = z.object({
  parent_id: z.guid().optional().openapi({ description: "Move the node (and its subtree)" }),
  code: Code.optional(),
  name: Name.optional(),
  active: z.boolean().optional(),
}).refine((change) => Object.keys(change).length > 0, "name at least one field to change")
  .openapi("HierarchyNodeChange");

/** A person in a node's subtree. */
export const MemberSchema = z.object({
  id: z.guid(),
  full_name: z.string(),
  email: z.string(),
  role: AppRole,
  active: z.boolean(),
  node: z.object({ id: z.guid(), code: z.string(), name: z.string() }),
}).openapi("HierarchyMember");

const NodeIdParams = z.object({ nodeId: uuidParam("nodeId", "Hierarchy node id") });
const IdParams = z.object({ id: uuidParam("id", "Hierarchy node id") });

/** GET /hierarchy. */
export const getHierarchy = createRoute({
  operationId: "getHierarchy",
  method: "get",
  path: "/hierarchy",
  tags: ["Hierarchy"],
  summary: "The organisation tree as far as the caller may see it",
  ...signedIn,
  responses: {
    200: json("Top nodes with their children", z.object({ data: z.array(TreeNodeSchema) })),
    401: commonProblems[401],
  },
});

/** POST /hierarchy/nodes. */
export const createNode = createRoute({
  operationId: "createHierarchyNode",
  method: "post",
  path: "/hierarchy/nodes",
  tags: ["Hierarchy"],
  summary: "Add a zone (admins) or a node under one the caller manages",
  ...signedIn,
  request: { body: jsonBody(NewNodeSchema) },
  responses: {
    201: json("The new node", NodeSchema),
    ...commonProblems,
    403: problem("The caller may not add a node there"),
    409: problem("The code is taken"),
  },
});

/** PUT /hierarchy/nodes/{id}. */
export const updateNode = createRoute({
  operationId: "updateHierarchyNode",
  method: "put",
  path: "/hierarchy/nodes/{id}",
  tags: ["Hierarchy"],
  summary: "Rename, recode, move or (de)activate a node",
  ...signedIn,
  request: { params: IdParams, body: jsonBody(NodeChangeSchema) },
  responses: {
    200: json("The updated node", NodeSchema),
    ...commonProblems,
    403: problem("The caller may see the node but not change it (or move it there)"),
    404: problem("No such node, or not yours to see"),
    409: problem("The code is taken"),
  },
});

/** GET /hierarchy/{nodeId}/members. */
export const listMembers = createRoute({
  operationId: "listHierarchyMembers",
  method: "get",
  path: "/hierarchy/{nodeId}/members",
  tags: ["Hierarchy"],
  summary: "The people in a node's subtree",
  ...signedIn,
  request: { params: NodeIdParams },
  responses: {
    200: json("Members, by node then name", z.object({ data: z.array(MemberSchema) })),
    ...commonProblems,
    404: problem("No such node, or not yours to see"),
  },
});
