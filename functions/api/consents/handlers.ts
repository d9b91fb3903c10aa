// Handlers of /api/customers/{id}/consents, run as the caller: RLS on customers, consents and
// consent_ledger decides what they read; the write goes through private.record_consent, which
// checks the caller sees the customer (P0002 → 404) and the grant's evidence (23514 → 422); a
// grant over the customer's own opt-out is refused by the database (PY014 → 409).
import type { RouteHandler } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { decodeCursor, encodeCursor, isRealCursorTime } from "../../_shared/cursor.ts";
import { asCaller, type Tx } from "../../_shared/db.ts";
import { notFound } from "../../_shared/errors.ts";
import type {
  ConsentRecordSchema,
  ConsentStateSchema,
  listConsents,
  recordConsent,
} from "./routes.ts";

type ConsentRecord = z.infer<typeof ConsentRecordSchema>;

/** A ledger page's key: the last row's recorded_at (UTC text to the microsecond) and id. */
const LedgerKeySchema = z.tuple([
  z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/).refine(isRealCursorTime),
  z.number().int().min(1),
]);

/** SQL: a ledger row (`l`) as the API answers it, with its cursor key. */
const ledgerColumns = (tx: Tx) =>
  tx`l.id::int as id, l.customer_id, l.channel, l.purpose, l.status, l.source, l.evidence,
     l.notice_version, l.recorded_by,
     to_char(l.recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as recorded_at`;

/** GET: 404 unless the caller sees the customer; the state and a page of the ledger. */
export const list: RouteHandler<typeof listConsents, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const { limit, cursor } = c.req.valid("query");
  const after = cursor ? decodeCursor(cursor, LedgerKeySchema) : null;
  const answer = await asCaller(c.get("claims"), async (tx) => {
    const [customer] = await tx`select 1 from public.customers where id = ${id}`;
    if (!customer) return undefined;
    const current = await tx<z.infer<typeof ConsentStateSchema>[]>`
      select cs.channel, cs.purpose, cs.status, cs.source,
             to_char(cs.recorded_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as recorded_at
        from public.consents cs
       where cs.customer_id = ${id}
       order by cs.channel, cs.purpose`;
    const rows = await tx<ConsentRecord[]>`
      select ${ledgerColumns(tx)}
        from public.consent_ledger l
       where l.customer_id = ${id}
         and (${after === null} or (l.recorded_at, l.id) < (${after?.[0] ?? null}::timestamptz, ${
      after?.[1] ?? null
    }::bigint))
       order by l.recorded_at desc, l.id desc
       limit ${limit + 1}`;
    return { current, rows };
  });
  if (!answer) throw notFound("customer");
  const history = answer.rows.slice(0, limit);
  const last = history.at(-1);
  const nextCursor = answer.rows.length > limit && last
    ? encodeCursor([last.recorded_at, last.id])
    : null;
  return c.json(
    { customer_id: id, current: answer.current, history, next_cursor: nextCursor },
    200,
  );
};

/** POST: one ledger row through private.record_consent; 404 for a customer not seen. */
export const record: RouteHandler<typeof recordConsent, AppEnv> = async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  const row = await asCaller(c.get("claims"), async (tx) => {
    const [recorded] = await tx<{ id: number }[]>`
      select (r).id::int as id
        from (select private.record_consent(${id}, ${body.channel}, ${body.purpose},
                                            ${body.status}, ${body.source},
                                            ${tx.json(body.evidence as Record<string, never>)},
                                            ${body.notice_version ?? null}) as r) x`;
    const [answer] = await tx<ConsentRecord[]>`
      select ${ledgerColumns(tx)} from public.consent_ledger l where l.id = ${recorded.id}`;
    return answer;
  });
  return c.json(row, 201);
};
