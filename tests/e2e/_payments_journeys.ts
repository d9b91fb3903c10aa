// Shared by the payment journeys (renewal_paid, autopay_installments): the insurer's policy feed
// and onboarding consents (set-up by SQL), pg_cron's pre-debit notice job, the desk's settings
// (templates and the ladder, through the API as an admin would, put back afterwards), the
// reconciliation as pg_cron calls it (the `reconcile` function with the service_role key), the
// customer's tap on a tracked link, and the reads the assertions need. Everything a journey
// exercises goes through the stack's public surfaces (tests/e2e/_stack.ts).
import assert from "node:assert/strict";
import {
  adminSql,
  api,
  call,
  functionsUrl,
  json,
  messagesReach,
  type OutboxRow,
  outboxRows,
  sandboxControl,
  sandboxUrl,
} from "./_stack.ts";
import { type FedPolicy, feedPolicy as feedBook, freshTag, uniqueMobile } from "./_book.ts";

/** The seeded agent who holds the journeys' policies, and the admin who configures the desk. */
export const agentEmail = "farah.agent@py360.test";
export const adminEmail = "admin@py360.test";

/** What the insurer's feed loaded (a customer with consents and an active policy), and the tag
 * that names its rows. */
export interface TaggedPolicy extends FedPolicy {
  tag: string;
}

/** What the payment journeys ask of the policy feed about one policy and its holder. */
export interface PaymentsFeed {
  productLine: "motor" | "health" | "life" | "home";
  /** Yearly premium in paise. */
  premium: number;
  /** The policy's last day (IST date, YYYY-MM-DD): the renewal's due date. */
  endDate: string;
  frequency?: "annual" | "half_yearly" | "quarterly" | "monthly";
  ncbPercent?: number;
  preferredChannel?: "whatsapp" | "sms" | "email";
  email?: boolean;
  /** The channels the customer consented to service messages on at onboarding (a granted
   * WhatsApp consent is the WhatsApp opt-in). */
  serviceConsents?: ("whatsapp" | "sms" | "email")[];
}

/**
 * Loads one policy as the insurer's feed and onboarding would (_book.ts): the customer (English,
 * in Pune, a `+919…` mobile, `journey.<tag>@mail.py360.test` unless `email` is false), their
 * service consents as recorded at onboarding (source `import`, a year ago), and the active
 * policy held by `agentEmail` (insurer Journey General, sum insured 40 × premium). Names carry
 * a fresh tag: `Journey <tag>`, `<MOT|HEA|LIF|HOM>/E2E/<tag>`.
 */
export async function feedPolicy(feed: PaymentsFeed): Promise<TaggedPolicy> {
  const tag = freshTag();
  const fed = await feedBook({
    agentEmail,
    customerName: `Journey ${tag}`,
    phone: uniqueMobile(),
    email: feed.email === false ? null : `journey.${tag.toLowerCase()}@mail.py360.test`,
    language: "en",
    preferredChannel: feed.preferredChannel,
    city: "Pune",
    consents: (feed.serviceConsents ?? ["whatsapp", "sms", "email"]).map((channel) => ({
      channel,
      purpose: "service",
      source: "import",
      daysAgo: 400,
      evidence: { batch: "onboarding" },
    })),
    policyNumber: `${feed.productLine.slice(0, 3).toUpperCase()}/E2E/${tag}`,
    productLine: feed.productLine,
    insurer: "Journey General",
    premium: feed.premium,
    sumInsured: feed.premium * 40,
    endDate: feed.endDate,
    frequency: feed.frequency,
    ncbPercent: feed.ncbPercent,
  });
  return { tag, ...fed };
}

/** pg_cron's hourly pre-debit notice job at `asOf`: this mandate's rows. */
export async function runAutopayNotices(asOf: Date, mandateId: string) {
  const rows = await adminSql()`
    select outstanding_amount_id, outcome, message_id
      from private.schedule_autopay_notices(${asOf}) where autopay_mandate_id = ${mandateId}`;
  return rows.map((row) => ({ ...row })) as {
    outstanding_amount_id: string;
    outcome: string;
    message_id: string | null;
  }[];
}

/** The reconciliation as pg_cron calls it on Supabase: POST /functions/v1/reconcile with the
 * service_role key. The run's counts. */
export async function reconcileNow(): Promise<Record<string, number>> {
  const key = Deno.env.get("SUPABASE_SERVICE_ROLE_KEY");
  if (!key) {
    throw new Error("SUPABASE_SERVICE_ROLE_KEY is not set: run the journeys with `npm test`.");
  }
  return await json(
    await call("reconcile", { token: key, method: "POST", body: { max_items: 1000 } }),
    200,
  );
}

/** The case the daily jobs opened for a policy (none: undefined). */
export async function caseOfPolicy(policyId: string) {
  const [row] = await adminSql()`
    select c.id, c.case_number, c.stage::text, c.due_date::text, c.assignee_id,
           (select p.id from public.profiles p where p.email = ${agentEmail}) as agent_id
      from public.renewal_cases c where c.policy_id = ${policyId}`;
  return row as
    | {
      id: string;
      case_number: string;
      stage: string;
      due_date: string;
      assignee_id: string;
      agent_id: string;
    }
    | undefined;
}

/** Every message of a case, in the order they were written. */
export function caseMessages(caseId: string): Promise<OutboxRow[]> {
  return outboxRows({ caseId }, { order: "created" });
}

/** One message, or a failure naming it. */
export async function messageById(id: string): Promise<OutboxRow> {
  const [row] = await outboxRows({ id });
  assert.ok(row, `message ${id} exists`);
  return row;
}

/** Waits until the worker and the vendor's callbacks have taken a message to `status`; the
 * message as it was then. */
export async function messageReaches(id: string, status: string, timeoutMs = 30_000) {
  const [message] = await messagesReach([id], [status], {
    what: `message ${id}`,
    timeoutMs,
    read: async () => [await messageById(id)],
  });
  return message;
}

/** The vendor events recorded for a message (status callbacks), in the order received. */
export async function messageEvents(id: string): Promise<string[]> {
  const rows = await adminSql()`
    select status from public.message_events
     where message_id = ${id} and kind = 'status' order by received_at, id`;
  return rows.map((row) => row.status as string);
}

/** What the sandbox's WhatsApp accepted for one of our messages (`biz_opaque_callback_data`):
 * `acceptedBy<WhatsappRequest>("whatsapp_cloud", messageId)`. */
export interface WhatsappRequest {
  id: string;
  to: string;
  template?: string;
  params: {
    template?: {
      name: string;
      language: { code: string };
      components?: { type: string; parameters: Record<string, unknown>[] }[];
    };
  };
  ourId?: string;
}

/** A call Razorpay's sandbox accepted, under our key (`receipt`, `reference_id`, mandate id):
 * `acceptedBy<RazorpayRequest>("razorpay", ourId)`. */
export interface RazorpayRequest {
  id: string;
  subject: string;
  params: Record<string, unknown>;
  ourId?: string;
}

/** A customer's action on Razorpay's sandbox that it refuses: the status and its error. */
export async function refusedByRazorpay(path: string, body: Record<string, unknown>) {
  const response = await fetch(`${sandboxUrl}/_control/razorpay/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

/** The customer pays through the sandbox (`POST /_control/razorpay/pay`): its answer. */
export function customerPays(body: Record<string, unknown>) {
  return sandboxControl<{
    outcome: string;
    payment: { id: string; amount: number; status: string } | null;
    paymentLink?: { id: string; status: string; amount_paid: number };
    events: { id: string; event: string }[];
  }>("razorpay/pay", body);
}

/**
 * The customer taps a tracked link (`<LINK_BASE_URL>/<code>`) on their phone: GET on the `go`
 * function of the running gateway (the link's base is the database's LINK_BASE_URL, which may
 * name another port), with a browser's User-Agent, redirects not followed. The redirect's target.
 */
export async function tapLink(link: string): Promise<string> {
  const code = link.replace(/^.*\//, "");
  assert.match(code, /^[0-9A-Za-z]{10,32}$/, `a tracked link: ${link}`);
  const response = await fetch(`${functionsUrl}/go/${code}`, {
    headers: { "user-agent": "Mozilla/5.0 (Linux; Android 14) Chrome/126.0 Mobile Safari/537.36" },
    redirect: "manual",
  });
  await response.body?.cancel();
  assert.equal(response.status, 302, `the tracked link ${code} redirects`);
  return response.headers.get("location") ?? "";
}

/** A payment as the database holds it. */
export interface PaymentRow {
  razorpay_payment_id: string;
  amount: number;
  status: string;
  credited: boolean;
  review_reason: string | null;
  payment_link_id: string | null;
}

/** The case's payments, oldest first. */
export async function casePayments(caseId: string): Promise<PaymentRow[]> {
  const rows = await adminSql()`
    select p.razorpay_payment_id, p.amount::int, p.status::text,
           p.credited_at is not null as credited, p.review_reason, pl.razorpay_payment_link_id
             as payment_link_id
      from public.payments p
      left join public.payment_links pl on pl.id = p.payment_link_id
     where p.case_id = ${caseId} order by p.created_at, p.id`;
  return rows.map((row) => ({ ...row })) as PaymentRow[];
}

/** The case's installments, oldest first: status, amount and amount paid (paise). */
export async function installments(caseId: string) {
  const rows = await adminSql()`
    select id, installment_number as n, status::text, amount::int, amount_paid::int as paid
      from public.outstanding_amounts where case_id = ${caseId} order by installment_number`;
  return rows.map((row) => ({ ...row })) as {
    id: string;
    n: number;
    status: string;
    amount: number;
    paid: number;
  }[];
}

/** The stages a case moved to, oldest first, from the audit log (one row per real change). */
export async function stageChanges(caseId: string): Promise<string[]> {
  const rows = await adminSql()`
    select new_row ->> 'stage' as stage from public.audit_log
     where table_name = 'renewal_cases' and row_id = ${caseId} and action = 'update'
       and old_row ->> 'stage' is distinct from new_row ->> 'stage'
     order by id`;
  return rows.map((row) => row.stage as string);
}

/** A WhatsApp template the desk registers (POST /api/templates as an admin). */
export interface WhatsappTemplateSpec {
  code: string;
  body: string;
  whatsappName: string;
  parameterCount: number;
  purpose?: "service" | "marketing" | "transactional";
}

/**
 * The desk's configuration for a journey, put back by `restore()`: WhatsApp templates registered
 * through the API (Meta's approval played by the sandbox's template registry), and ladder steps
 * pointed at them (PATCH /api/reminder-rules/{id}). The ladder is shared by every case of a
 * product line, so a journey changes it only for its own run and puts it back in `finally`;
 * its templates carry codes of its own and are deactivated afterwards (messages were sent from
 * them, so they stay as history).
 */
export class DeskSettings {
  private templates: string[] = [];
  private steps: { id: string; template_code: string }[] = [];
  constructor(private adminToken: string) {}

  /** Registers an approved WhatsApp template with Meta (the sandbox) and with the desk. */
  async whatsappTemplate(spec: WhatsappTemplateSpec): Promise<string> {
    await sandboxControl("whatsapp_cloud/templates", {
      templates: [{
        name: spec.whatsappName,
        language: "en",
        category: "utility",
        bodyParams: spec.parameterCount,
      }],
    });
    const created = await json<{ id: string; lint: { errors: string[] } }>(
      await api("/templates", {
        token: this.adminToken,
        method: "POST",
        body: {
          code: spec.code,
          channel: "whatsapp",
          language: "en",
          purpose: spec.purpose ?? "service",
          body: spec.body,
          whatsapp_name: spec.whatsappName,
          whatsapp_category: "utility",
          whatsapp_status: "approved",
          whatsapp_parameter_count: spec.parameterCount,
        },
      }),
      201,
    );
    assert.deepEqual(created.lint.errors, [], "the template passes the lint");
    this.templates.push(created.id);
    return created.id;
  }

  /** Points the product line's message step at `offsetDays` to `templateCode`; its id. */
  async ladderStep(productLine: string, offsetDays: number, templateCode: string) {
    const ladder = await json<
      { data: { id: string; offset_days: number; kind: string; template_code: string }[] }
    >(
      await api(`/reminder-rules?product_line=${productLine}`, { token: this.adminToken }),
    );
    const step = ladder.data.find((r) => r.offset_days === offsetDays && r.kind === "message");
    assert.ok(step, `the ${productLine} ladder has a message step at ${offsetDays}`);
    this.steps.push({ id: step.id, template_code: step.template_code });
    const changed = await json<{ template_code: string }>(
      await api(`/reminder-rules/${step.id}`, {
        token: this.adminToken,
        method: "PATCH",
        body: { template_code: templateCode },
      }),
    );
    assert.equal(changed.template_code, templateCode);
    return step.id;
  }

  /** Puts the ladder back and deactivates the templates (through the API). */
  async restore() {
    const failures: string[] = [];
    for (const step of this.steps.reverse()) {
      const response = await api(`/reminder-rules/${step.id}`, {
        token: this.adminToken,
        method: "PATCH",
        body: { template_code: step.template_code },
      });
      await response.body?.cancel();
      if (response.status !== 200) failures.push(`step ${step.id}: ${response.status}`);
    }
    for (const id of this.templates) {
      const response = await api(`/templates/${id}`, {
        token: this.adminToken,
        method: "PUT",
        body: { active: false },
      });
      await response.body?.cancel();
      if (response.status !== 200) failures.push(`template ${id}: ${response.status}`);
    }
    this.steps = [];
    this.templates = [];
    assert.deepEqual(failures, [], "the desk's settings are put back");
  }
}
