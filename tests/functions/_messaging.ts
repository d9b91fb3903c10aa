// Shared by the outbound-message API tests: templates, messages put in the outbox through the
// gate (private.enqueue_messages, as a producer would), and moving them along as the dispatcher
// and the webhooks would, all as the test database's superuser.
import { adminSql } from "./_helpers.ts";

/** A fresh template code, so tests never collide on (code, channel, language). */
export const freshCode = (prefix = "api") =>
  `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;

/** What a test template may override. */
export interface TemplateOptions {
  code?: string;
  channel?: "sms" | "email" | "whatsapp";
  purpose?: "transactional" | "service" | "marketing";
  body?: string;
  subject?: string | null;
}

/**
 * A template saved as the superuser (the lint runs all the same): by default an SMS on a
 * registered DLT template, `Hello {{customer_name}} -PYRNWL`, transactional (never deferred,
 * never capped). Returns its id and code.
 */
export async function createTemplate(options: TemplateOptions = {}) {
  const code = options.code ?? freshCode();
  const channel = options.channel ?? "sms";
  const body = options.body ?? "Hello {{customer_name}} -PYRNWL";
  const sms = channel === "sms";
  const whatsapp = channel === "whatsapp";
  const [row] = await adminSql()`
    insert into public.templates (code, channel, language, purpose, subject, body,
                                  whatsapp_name, whatsapp_category, whatsapp_status,
                                  whatsapp_parameter_count, dlt_entity_id, dlt_header,
                                  dlt_template_id, dlt_text)
    values (${code}, ${channel}, 'en', ${options.purpose ?? "transactional"},
            ${channel === "email" ? options.subject ?? "Subject" : null}, ${body},
            ${whatsapp ? code : null}, ${whatsapp ? "utility" : null},
            ${whatsapp ? "approved" : null},
            ${whatsapp ? (body.match(/\{\{/g) ?? []).length : null},
            ${sms ? "1101234567890123456" : null}, ${sms ? "PYRNWL" : null},
            ${sms ? "1107" + String(Date.now()).slice(-12) : null},
            ${sms ? body.replace(/\{\{\s*[a-z_]+\s*\}\}/g, "{#var#}") : null})
    returning id, code`;
  return row as { id: string; code: string };
}

/** One request to the gate; `key` defaults to a fresh idempotency key. */
export interface GateRequest {
  customer_id: string;
  case_id?: string;
  channel?: "sms" | "email" | "whatsapp";
  template_code?: string;
  variables?: Record<string, string>;
  body?: string;
  purpose?: string;
  idempotency_key?: string;
}

/** Messages put in the outbox through the gate as a producer would; their ids in order. */
export async function enqueue(requests: GateRequest[]): Promise<string[]> {
  const rows = await adminSql()`
    select e.message_id from private.enqueue_messages(${
    adminSql().json(
      requests.map((request) => ({
        channel: "sms",
        variables: { customer_name: "Test" },
        idempotency_key: `test:${crypto.randomUUID()}`,
        ...request,
      })),
    )
  }::jsonb) e`;
  return rows.map((row) => row.message_id as string);
}

/** Sets columns of messages directly, as the dispatcher and the webhooks would have. */
export async function setMessages(ids: string[], change: Record<string, unknown>) {
  const sql = adminSql();
  await sql`update public.messages set ${sql(change)} where id = any(${ids}::uuid[])`;
}

/** How many messages there are: a refused request must leave it unchanged. */
export async function messageCount(): Promise<number> {
  const [row] = await adminSql()`select count(*)::int as n from public.messages`;
  return row.n;
}

/** Grants a consent (WhatsApp needs one to opt in). */
export async function grantConsent(customerId: string, channel: string, purpose = "service") {
  await adminSql()`
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (${customerId}, ${channel}, ${purpose}, 'granted', 'web_form')
    on conflict do nothing`;
}
