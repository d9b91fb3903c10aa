// Handlers of /api/templates, run as the caller: RLS lets the desk read and admins write, the
// column grants decide which fields may be written, and the lint trigger refuses a template
// that fails it (PY009: a 422 whose `reasons` list why).
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, type Tx } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import type {
  createTemplate,
  deleteTemplate,
  getTemplate,
  LintSchema,
  lintTemplate,
  listTemplates,
  TemplateSchema,
  updateTemplate,
} from "./routes.ts";

type Template = z.infer<typeof TemplateSchema>;
type Lint = z.infer<typeof LintSchema>;

/** SQL: a lint (jsonb) as LintSchema, its estimated cost an exact decimal string. */
const lintJson = (tx: Tx, lint: ReturnType<Tx>) =>
  tx`(${lint} || jsonb_build_object('estimated_cost_paise',
        pg_catalog.trim_scale((${lint} ->> 'estimated_cost_paise')::numeric)::text))`;

/** SQL: the columns of TemplateSchema, from the template aliased `t`. */
const templateColumns = (tx: Tx) =>
  tx`t.id, t.code, t.channel, t.language, t.purpose, t.subject, t.body, t.whatsapp_name,
     t.whatsapp_category, t.whatsapp_status, t.whatsapp_parameter_count, t.dlt_entity_id,
     t.dlt_header, t.dlt_template_id, t.dlt_text, t.active, ${lintJson(tx, tx`t.lint`)} as lint,
     t.created_at, t.updated_at`;

const adminsOnly = () => new ProblemError(403, "Forbidden", "Only admins write templates.");

/** GET /templates: the templates the caller may see (the desk: all; others: none). */
export const list: RouteHandler<typeof listTemplates, AppEnv> = async (c) => {
  const query = c.req.valid("query");
  const rows = await asCaller(c.get("claims"), (tx) =>
    tx<Template[]>`
      select ${templateColumns(tx)} from public.templates t
       where true
         ${query.code ? tx`and t.code = ${query.code}` : tx``}
         ${query.channel ? tx`and t.channel = ${query.channel}` : tx``}
         ${query.language ? tx`and t.language = ${query.language}` : tx``}
         ${query.active ? tx`and t.active = ${query.active === "true"}` : tx``}
       order by t.code, t.channel, t.language`);
  return c.json({ data: [...rows] }, 200);
};

/** GET /templates/{id}: 404 when it does not exist or the caller may not see it. */
export const get: RouteHandler<typeof getTemplate, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const [row] = await asCaller(
    c.get("claims"),
    (tx) =>
      tx<Template[]>`select ${templateColumns(tx)} from public.templates t where t.id = ${id}`,
  );
  if (!row) throw notFound("template");
  return c.json(row, 200);
};

/** POST /templates (admins): 403 for others (RLS), 409 for a taken code, 422 for the lint. */
export const create: RouteHandler<typeof createTemplate, AppEnv> = async (c) => {
  const template = c.req.valid("json");
  const columns = Object.keys(template) as (keyof typeof template)[];
  const [row] = await asCaller(c.get("claims"), (tx) =>
    tx<Template[]>`
      with t as (insert into public.templates ${tx(template, columns)} returning *)
      select ${templateColumns(tx)} from t`);
  return c.json(row, 201);
};

/** Runs a write on a template the caller can see; 404 if they cannot, 403 if RLS stops it. */
async function writeVisibleTemplate<T>(
  tx: Tx,
  id: string,
  write: () => Promise<T | undefined>,
): Promise<T> {
  const [visible] = await tx`select 1 from public.templates where id = ${id}`;
  if (!visible) throw notFound("template");
  const result = await write();
  if (result === undefined) throw adminsOnly();
  return result;
}

/** PUT /templates/{id} (admins): sets only the fields named; the lint runs on the result. */
export const update: RouteHandler<typeof updateTemplate, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const change = c.req.valid("json");
  const columns = Object.keys(change) as (keyof typeof change)[];
  const row = await asCaller(c.get("claims"), (tx) =>
    writeVisibleTemplate(tx, id, async () => {
      const [updated] = await tx<Template[]>`
        update public.templates t set ${tx(change, columns)}
         where t.id = ${id}
        returning ${templateColumns(tx)}`;
      return updated;
    }));
  return c.json(row, 200);
};

/** DELETE /templates/{id} (admins): 204; 409 while messages refer to it (23503). */
export const remove: RouteHandler<typeof deleteTemplate, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  await asCaller(c.get("claims"), (tx) =>
    writeVisibleTemplate(tx, id, async () => {
      const [deleted] = await tx`delete from public.templates where id = ${id} returning id`;
      return deleted;
    }));
  return c.body(null, 204);
};

/** POST /templates/lint: private.lint_template() over the draft as a templates row, unsaved. */
export const lint: RouteHandler<typeof lintTemplate, AppEnv> = async (c) => {
  const draft = c.req.valid("json");
  const [row] = await asCaller(c.get("claims"), (tx) =>
    tx<{ lint: Lint }[]>`
      select ${
      lintJson(
        tx,
        tx`private.lint_template(jsonb_populate_record(null::public.templates, ${
          tx.json(draft)
        }::jsonb))`,
      )
    } as lint`);
  return c.json(row.lint, 200);
};
