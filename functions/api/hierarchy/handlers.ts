// Handlers of /api/hierarchy, run as the caller: RLS decides which nodes exist for them, the
// hierarchy triggers decide where a node may sit.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, type Tx } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import type {
  createNode,
  getHierarchy,
  listMembers,
  MemberSchema,
  NodeSchema,
  updateNode,
} from "./routes.ts";

type Node = z.infer<typeof NodeSchema>;
type TreeNode = Node & { children: TreeNode[] };
type Member = z.infer<typeof MemberSchema>;

const nodeColumns = (tx: Tx) => tx`id, parent_id, level, code, name, path::text as path, active`;

/** Nests nodes listed in path order; a node whose parent is hidden becomes a top node. */
export function buildTree(nodes: Node[]): TreeNode[] {
  const byId = new Map<string, TreeNode>();
  const roots: TreeNode[] = [];
  for (const node of nodes) {
    const treeNode = { ...node, children: [] };
    byId.set(node.id, treeNode);
    const parent = node.parent_id ? byId.get(node.parent_id) : undefined;
    (parent ? parent.children : roots).push(treeNode);
  }
  return roots;
}

/** GET /hierarchy: the visible nodes nested into trees. */
export const tree: RouteHandler<typeof getHierarchy, AppEnv> = async (c) => {
  const nodes = await asCaller(
    c.get("claims"),
    (tx) => tx<Node[]>`select ${nodeColumns(tx)} from public.hierarchy_nodes order by path`,
  );
  return c.json({ data: buildTree(nodes) }, 200);
};

/** POST /hierarchy/nodes: 403 outside the caller's subtree, 422 for a misplaced level. */
export const create: RouteHandler<typeof createNode, AppEnv> = async (c) => {
  const node = c.req.valid("json");
  const [created] = await asCaller(c.get("claims"), async (tx) => {
    // No RETURNING: its row-level check judges the new row against the caller's subtree as this
    // statement's snapshot saw it, before an ancestor's rename that committed while the insert
    // waited for the tree's lock (the path itself is computed after the lock): a 403 for a
    // team the manager may see. The next statement sees the rename.
    await tx`
      insert into public.hierarchy_nodes (parent_id, level, code, name)
      values (${node.parent_id}, ${node.level}, ${node.code}, ${node.name})`;
    return await tx<Node[]>`
      select ${nodeColumns(tx)} from public.hierarchy_nodes where code = ${node.code}`;
  });
  return c.json(created, 201);
};

/**
 * PUT /hierarchy/nodes/{id}: sets only the fields named. 404 for a node the caller cannot see,
 * 403 for one they see but may not change (or move there).
 */
export const update: RouteHandler<typeof updateNode, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const change = c.req.valid("json");
  const columns = Object.keys(change) as (keyof typeof change)[];
  const updated = await asCaller(c.get("claims"), async (tx) => {
    const [visible] = await tx`select 1 from public.hierarchy_nodes where id = ${id}`;
    if (!visible) throw notFound("node");
    const [row] = await tx<Node[]>`
      update public.hierarchy_nodes set ${tx(change, columns)}
       where id = ${id}
      returning ${nodeColumns(tx)}`;
    return row;
  });
  if (!updated) {
    throw new ProblemError(403, "Forbidden", "You may see this node but not change it.");
  }
  return c.json(updated, 200);
};

/** GET /hierarchy/{nodeId}/members: 404 for a node the caller cannot see. */
export const members: RouteHandler<typeof listMembers, AppEnv> = async (c) => {
  const { nodeId } = c.req.valid("param");
  const result = await asCaller(c.get("claims"), async (tx) => {
    const [node] = await tx`select path from public.hierarchy_nodes where id = ${nodeId}`;
    if (!node) return undefined;
    return await tx<Member[]>`
      select p.id, p.full_name, p.email::text as email, p.role, p.active,
             json_build_object('id', n.id, 'code', n.code, 'name', n.name) as node
        from public.profiles p
        join public.hierarchy_nodes n on n.id = p.node_id
       where n.path operator(extensions.<@) ${node.path}::extensions.ltree
       order by n.path, p.full_name`;
  });
  if (!result) throw notFound("node");
  return c.json({ data: result }, 200);
};
