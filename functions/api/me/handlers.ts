import type { RouteHandler } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller } from "../../_shared/db.ts";
import { notFound } from "../../_shared/errors.ts";
import type { getMe } from "./routes.ts";

export const me: RouteHandler<typeof getMe, AppEnv> = async (c) => {
  const [profile] = await asCaller(c.get("claims"), (tx) =>
    tx`
      select p.id, p.email::text as email, p.full_name, p.role, p.active,
             case when n.id is null then null else json_build_object(
               'id', n.id, 'code', n.code, 'name', n.name, 'level', n.level, 'path', n.path::text
             ) end as node
        from public.profiles p
        left join public.hierarchy_nodes n on n.id = p.node_id
       where p.id = (select auth.uid())`);
  if (!profile) throw notFound("profile");
  return c.json(profile as never, 200);
};
