// The SQL behind /api/messages. Every query runs in the caller's transaction (asCaller), so
// row-level security decides which messages exist: those of the customers the caller sees.
import type { z } from "@hono/zod-openapi";
import type { Tx } from "../../_shared/db.ts";
import { personJson } from "../sql.ts";
import { afterCursor, cursorTime, listOrder, type MessageCursor } from "./cursor.ts";
import type { MessageSchema } from "./routes.ts";

/** A message as GET /messages answers it (MessageSchema), with its cursor key. */
export type MessageRow = z.infer<typeof MessageSchema> & { cursor_key: string };

/** What GET /messages narrows to: a customer, a case, or both; RLS still decides. */
export interface MessageFilter {
  customerId?: string;
  caseId?: string;
  /** Keyset: the (created_at, id) of the last row of the previous page. */
  after?: MessageCursor;
  limit: number;
}

/** SQL: an exact paise amount of the numeric column `column` as a decimal string, or null. */
export const paiseText = (tx: Tx, column: ReturnType<Tx>) =>
  tx`pg_catalog.trim_scale(${column})::text`;

/**
 * Up to `limit` messages of the customer and/or case, newest first, after the keyset `after`.
 * Served by messages_customer_idx / messages_case_idx (created_at desc, id).
 */
export function listMessagePage(tx: Tx, filter: MessageFilter): Promise<MessageRow[]> {
  return tx<MessageRow[]>`
    select m.id, m.customer_id, m.case_id, m.channel, m.purpose,
           case when t.id is null then null
                else json_build_object('id', t.id, 'code', t.code, 'language', t.language) end
             as template,
           m.subject, m.body, m.recipient, m.priority, m.status, m.blocked_reason,
           m.deferred_reason, m.dead_reason, m.attempts, m.next_attempt_at, m.provider,
           m.provider_message_id,
           ${paiseText(tx, tx`m.estimated_cost_paise`)} as estimated_cost_paise,
           ${paiseText(tx, tx`m.cost_paise`)} as cost_paise,
           m.last_error_code, m.last_error, ${personJson(tx, "p")} as created_by,
           m.queued_at, m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.created_at,
           ${cursorTime(tx, "m")} as cursor_key
      from public.messages m
      left join public.templates t on t.id = m.template_id
      left join public.profiles p on p.id = m.created_by
     where true
       ${filter.customerId ? tx`and m.customer_id = ${filter.customerId}` : tx``}
       ${filter.caseId ? tx`and m.case_id = ${filter.caseId}` : tx``}
       ${afterCursor(tx, "m", filter.after)}
     ${listOrder(tx, "m")}
     limit ${filter.limit}`;
}
