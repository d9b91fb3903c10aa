// Shared by the outbound-message API tests: templates, messages put in the outbox through the
// gate (private.enqueue_messages, as a producer would), and moving them along as the dispatcher
// and the webhooks would, all as the test database's superuser.
import { adminSql, createCase } from "./_helpers.ts";

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
            ${whatsapp ? code : null},
            ${whatsapp ? (options.purpose === "marketing" ? "marketing" : "utility") : null},
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

/**
 * How many customers' messages there are: a refused request must leave it unchanged. Staff
 * notifications are not counted: the alerts' pg_cron job may queue one at any minute.
 */
export async function messageCount(): Promise<number> {
  const [row] = await adminSql()`
    select count(*)::int as n from public.messages where customer_id is not null`;
  return row.n;
}

/** Grants a consent (WhatsApp needs one to opt in). */
export async function grantConsent(customerId: string, channel: string, purpose = "service") {
  await adminSql()`
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (${customerId}, ${channel}, ${purpose}, 'granted', 'web_form')
    on conflict do nothing`;
}

/** Seconds after `start`, as a Date. */
const after = (start: Date, seconds: number) => new Date(start.getTime() + seconds * 1000);

/**
 * Messages for the vendor and channel reports, in an hour of the past no other test uses (a
 * random hour of 2001-2019), so the reports' figures over that period are exactly these:
 * - Farah's customer (Delhi CP), SMS: on twilio one delivered with a vendor price of 62.5 paise
 *   (sent +2 s, delivered +10 s), one delivered after a transient 20429 (+4 s, +20 s), one
 *   failed at once (21211, never sent), one undeliverable (+6 s, 30003); on aws_sns one sent
 *   (+1 s) and flagged unconfirmed. WhatsApp: one read (+3 s, delivered +5 s) priced 11.5.
 * - Gopal's customer (Gurugram), SMS on twilio: one sent (+8 s).
 * Every estimate is 25 paise. Breaker events for twilio: open, half_open and closed at +30,
 * +60, +90 s, and an open a day before the hour.
 */
export async function reportFixture() {
  const hour = Math.floor(Math.random() * 18 * 365 * 24);
  const start = new Date(Date.UTC(2001, 0, 1) + hour * 3_600_000);
  const farah = (await createCase("farah.agent@py360.test")).customerId;
  const gopal = (await createCase("gopal.agent@py360.test")).customerId;
  const { code } = await createTemplate();
  const whatsapp = await createTemplate({ channel: "whatsapp", body: "Hi {{customer_name}}" });
  await grantConsent(farah, "whatsapp");
  const sms = { customer_id: farah, template_code: code };
  const [priced, retried, refused, undelivered, viaSns] = await enqueue([sms, sms, sms, sms, sms]);
  const [read] = await enqueue([
    { customer_id: farah, channel: "whatsapp", template_code: whatsapp.code },
  ]);
  const [theirs] = await enqueue([{ customer_id: gopal, template_code: code }]);
  const all = [priced, retried, refused, undelivered, viaSns, read, theirs];
  await setMessages(all, {
    created_at: start,
    queued_at: start,
    estimated_cost_paise: 25,
    provider: "twilio",
  });
  const sent = (seconds: number) => ({ status: "sent", sent_at: after(start, seconds) });
  await setMessages([priced], {
    ...sent(2),
    status: "delivered",
    delivered_at: after(start, 10),
    cost_paise: 62.5,
  });
  await setMessages([retried], {
    ...sent(4),
    status: "delivered",
    delivered_at: after(start, 20),
    last_error_code: "20429",
  });
  await setMessages([refused], {
    status: "failed",
    failed_at: after(start, 1),
    last_error_code: "21211",
  });
  await setMessages([undelivered], {
    ...sent(6),
    status: "undeliverable",
    failed_at: after(start, 30),
    last_error_code: "30003",
  });
  await setMessages([viaSns], { ...sent(1), provider: "aws_sns", unconfirmed_at: new Date() });
  await setMessages([read], {
    ...sent(3),
    status: "read",
    provider: "whatsapp_cloud",
    delivered_at: after(start, 5),
    read_at: after(start, 9),
    cost_paise: 11.5,
  });
  await setMessages([theirs], sent(8));
  await adminSql()`
    insert into public.provider_breaker_events (provider, breaker, at)
    values ('twilio', 'open', ${after(start, 30)}), ('twilio', 'half_open', ${after(start, 60)}),
           ('twilio', 'closed', ${after(start, 90)}), ('twilio', 'open', ${after(start, -86_400)})`;
  return {
    from: start.toISOString(),
    to: after(start, 3600).toISOString(),
    start,
    ids: { priced, retried, refused, undelivered, viaSns, read, theirs },
  };
}
