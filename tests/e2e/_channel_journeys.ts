// Shared by journeys 2 (channel_fallbacks.test.ts) and 3 (stop_reply.test.ts): the ladder's
// Punjabi SMS and WhatsApp templates as an admin registers them through the API, customers and
// their policies as the insurer's feed and the onboarding form record them, pg_cron's jobs with
// `as_of`, the outbox as the database holds it, what the sandbox's vendors received, and the
// operator's settings a journey holds for its duration (put back afterwards).
//
// Why Punjabi: the ladder's SMS and WhatsApp variants are picked by the customer's language,
// else English, else any. The journeys' customers speak Punjabi, so they get these variants
// whatever English ones other journeys register, and since the variants are switched off again
// when a journey ends, no other journey's customer is ever sent them.
import {
  addDays,
  adminSql,
  api,
  eventually,
  istTime,
  json,
  sandboxControl,
  sandboxGet,
} from "./_stack.ts";

/** The language of the journeys' customers and of the ladder variants registered for them. */
export const journeyLanguage = "pa";

/** A template as GET/POST /api/templates answer it (the fields the journeys read). */
export interface TemplateRow {
  id: string;
  code: string;
  channel: string;
  language: string;
  purpose: string;
  body: string;
  active: boolean;
  whatsapp_name: string | null;
  dlt_entity_id: string | null;
  dlt_header: string | null;
  dlt_template_id: string | null;
  dlt_text: string | null;
}

/** The ladder's Punjabi variants of `renewal_due`, and how to switch them off again. */
export interface PunjabiLadder {
  sms: TemplateRow;
  whatsapp: TemplateRow;
  /** Switches off the variants this call switched on or created. */
  restore(): Promise<void>;
}

const smsBody = "ਪਿਆਰੇ {{customer_name}}, ਤੁਹਾਡੀ ਪਾਲਿਸੀ {{policy_number}} {{expiry_date}} ਨੂੰ ਖਤਮ ਹੋ " +
  "ਰਹੀ ਹੈ। ਕਵਰ ਜਾਰੀ ਰੱਖਣ ਲਈ ਨਵੀਨੀਕਰਨ ਕਰੋ। -PYRNWL";
const whatsappBody = "ਪਿਆਰੇ {{customer_name}}, ਤੁਹਾਡੀ ਪਾਲਿਸੀ {{policy_number}} {{expiry_date}} ਨੂੰ " +
  "ਖਤਮ ਹੋ ਰਹੀ ਹੈ। ਕਵਰ ਜਾਰੀ ਰੱਖਣ ਲਈ ਨਵੀਨੀਕਰਨ ਕਰੋ।";

/** The registered DLT text of an SMS body: each {{variable}} becomes {#var#}. */
export function dltText(body: string): string {
  return body.replace(/\{\{\s*[a-z_][a-z0-9_]*\s*\}\}/g, "{#var#}");
}

/**
 * Whether `text` is a fill of the registered DLT text `dlt` (fixed text kept, each {#var#} a
 * value of 1 to 30 characters): what DLT scrubbing checks before an operator delivers an SMS.
 */
export function fillsDltText(text: string, dlt: string): boolean {
  const pattern = dlt.split("{#var#}").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(".{1,30}");
  return new RegExp(`^${pattern}$`, "su").test(text);
}

/**
 * Makes sure the ladder's `renewal_due` step has active Punjabi SMS (DLT entity, header,
 * template id and text) and WhatsApp (approved utility) variants, registering or switching them
 * on through the API as the admin `adminToken`; the WhatsApp one is also approved in the
 * sandbox's Meta. Variants found already active are left as they are by restore().
 */
export async function punjabiLadder(adminToken: string): Promise<PunjabiLadder> {
  const wanted = {
    sms: {
      code: "renewal_due",
      channel: "sms",
      language: journeyLanguage,
      purpose: "service",
      body: smsBody,
      dlt_entity_id: "1201160000000071234",
      dlt_header: "PYRNWL",
      dlt_template_id: "1207170000000098765",
      dlt_text: dltText(smsBody),
    },
    whatsapp: {
      code: "renewal_due",
      channel: "whatsapp",
      language: journeyLanguage,
      purpose: "service",
      body: whatsappBody,
      whatsapp_name: "renewal_due_pa",
      whatsapp_category: "utility",
      whatsapp_status: "approved",
      whatsapp_parameter_count: 3,
    },
  };
  const switchedOn: string[] = [];
  const found: Partial<Record<"sms" | "whatsapp", TemplateRow>> = {};
  for (const channel of ["sms", "whatsapp"] as const) {
    const { data } = await json<{ data: TemplateRow[] }>(
      await api(`/templates?code=renewal_due&channel=${channel}&language=${journeyLanguage}`, {
        token: adminToken,
      }),
    );
    let template = data[0];
    if (!template) {
      template = await json<TemplateRow>(
        await api("/templates", { token: adminToken, method: "POST", body: wanted[channel] }),
        201,
      );
      switchedOn.push(template.id);
    } else if (!template.active) {
      template = await json<TemplateRow>(
        await api(`/templates/${template.id}`, {
          token: adminToken,
          method: "PUT",
          body: { active: true },
        }),
      );
      switchedOn.push(template.id);
    }
    found[channel] = template;
  }
  await sandboxControl("whatsapp_cloud/templates", {
    templates: [{
      name: found.whatsapp!.whatsapp_name,
      language: journeyLanguage,
      category: "utility",
      bodyParams: 3,
    }],
  });
  return {
    sms: found.sms!,
    whatsapp: found.whatsapp!,
    restore: async () => {
      for (const id of switchedOn) {
        const response = await api(`/templates/${id}`, {
          token: adminToken,
          method: "PUT",
          body: { active: false },
        });
        await json(response);
      }
    },
  };
}

/** A consent as the onboarding form recorded it. */
export type OnboardingConsent = [
  channel: "sms" | "email" | "whatsapp",
  purpose: "service" | "marketing",
];

/** A customer and a motor policy of theirs, as the feed and the onboarding form gave them. */
export interface Onboarded {
  customerId: string;
  policyId: string;
  policyNumber: string;
  customerName: string;
  /** E.164, an Indian mobile unique to the customer (a STOP from it concerns them alone). */
  phone: string;
  email: string;
  /** The policy's last day of cover (IST YYYY-MM-DD): the renewal's due date. */
  endDate: string;
}

/** What the feed and the onboarding form say about a customer. */
export interface OnboardingForm {
  /** Starts the customer's name and policy number. */
  label: string;
  /** The agent holding the policy (a seeded agent's email). */
  agentEmail: string;
  endDate: string;
  /** Default: a unique address at example.in. `bounce+…@…` is one the sandbox's SES bounces. */
  email?: string;
  preferredChannel?: "sms" | "email" | "whatsapp";
  city?: string;
  /** Granted at onboarding (source web_form): each appends its consent_ledger row. */
  consents: OnboardingConsent[];
  /** Yearly premium, paise; default 1,500,000 (₹15,000, under the call task's threshold). */
  premium?: number;
}

/** A random tag of 8 capitals and digits. */
export function freshTag(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 8).toUpperCase();
}

/**
 * Loads a Punjabi-speaking customer with a unique mobile, their consents as the onboarding form
 * recorded them, and an active annual motor policy (10% NCB) ending on `endDate`, held by
 * `agentEmail` — direct SQL, as the insurer's feed and the onboarding form are no part of a
 * journey.
 */
export async function onboard(form: OnboardingForm): Promise<Onboarded> {
  const sql = adminSql();
  const tag = freshTag();
  const digits = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b % 10).join("");
  const phone = `+9197${digits}`;
  const customerName = `${form.label} ${tag}`;
  const email = form.email ?? `${form.label.toLowerCase().replace(/[^a-z0-9]+/g, ".")}.` +
      `${tag.toLowerCase()}@example.in`;
  const policyNumber = `E2E/${form.label.toUpperCase().replace(/[^A-Z0-9]+/g, "-")}/${tag}`;
  return await sql.begin(async (tx) => {
    const [row] = await tx<{ customer_id: string; policy_id: string }[]>`
      with agent as (
        select id from public.profiles where email = ${form.agentEmail} and role = 'agent'
      ),
      customer as (
        insert into public.customers (full_name, phone, email, language, preferred_channel, city)
        values (${customerName}, ${phone}, ${email}, ${journeyLanguage},
                ${form.preferredChannel ?? null}::public.channel_type, ${form.city ?? "Ludhiana"})
        returning id
      )
      insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date, ncb_percent)
      select ${policyNumber}, 'motor', 'Journey General', customer.id, agent.id,
             ${form.premium ?? 1_500_000}, 60000000, ${form.endDate}::date - 364,
             ${form.endDate}::date, 10
        from customer, agent
      returning customer_id, id as policy_id`;
    if (!row) throw new Error(`no agent ${form.agentEmail}`);
    for (const [channel, purpose] of form.consents) {
      await tx`
        insert into public.consents (customer_id, channel, purpose, status, source, evidence)
        values (${row.customer_id}, ${channel}, ${purpose}, 'granted', 'web_form',
                ${tx.json({ form: "onboarding", label: form.label })})`;
    }
    return {
      customerId: row.customer_id,
      policyId: row.policy_id,
      policyNumber,
      customerName,
      phone,
      email,
      endDate: form.endDate,
    };
  });
}

/** The as_of of a ladder step: 11:00 IST on the step's day (`offsetDays` from `endDate`). */
export function stepAsOf(endDate: string, offsetDays: number): Date {
  return istTime(addDays(endDate, offsetDays), "11:00");
}

/** pg_cron's 06:00 IST daily renewal jobs, for `asOf`. */
export async function runDailyJobs(asOf: Date): Promise<Record<string, unknown>> {
  const [row] = await adminSql()`select private.run_daily_renewal_jobs(${asOf}) as result`;
  return row.result as Record<string, unknown>;
}

/** pg_cron's reminder cadence, for `asOf`: cases per outcome, over the whole book. */
export async function runCadence(asOf: Date): Promise<Record<string, number>> {
  const rows = await adminSql()<{ outcome: string; cases: string }[]>`
    select outcome, cases from private.run_reminder_cadence(${asOf})`;
  return Object.fromEntries(rows.map((r) => [r.outcome, Number(r.cases)]));
}

/** A renewal case: its id, stage and due date (IST). */
export interface CaseRow {
  id: string;
  stage: string;
  due_date: string;
  assignee_email: string;
}

/** The renewal case of a policy, if it has one. */
export async function caseOf(policyId: string): Promise<CaseRow | undefined> {
  const [row] = await adminSql()<CaseRow[]>`
    select c.id, c.stage::text, c.due_date::text, a.email as assignee_email
      from public.renewal_cases c join public.profiles a on a.id = c.assignee_id
     where c.policy_id = ${policyId}`;
  return row;
}

/** A customer's message as the outbox holds it. */
export interface OutboxRow {
  id: string;
  case_id: string | null;
  channel: string;
  purpose: string;
  template_code: string | null;
  template_language: string | null;
  idempotency_key: string;
  recipient: string | null;
  body: string;
  status: string;
  blocked_reason: string | null;
  choice_reason: string | null;
  provider: string | null;
  attempts: number;
  last_error_code: string | null;
  queued_at: Date;
}

/** Every message of a customer, oldest first. */
export async function messagesOf(customerId: string): Promise<OutboxRow[]> {
  return await adminSql()<OutboxRow[]>`
    select m.id, m.case_id, m.channel::text, m.purpose::text, t.code as template_code,
           t.language as template_language, m.idempotency_key, m.recipient, m.body,
           m.status::text, m.blocked_reason, m.choice_reason, m.provider, m.attempts,
           m.last_error_code, m.queued_at
      from public.messages m left join public.templates t on t.id = m.template_id
     where m.customer_id = ${customerId}
     order by m.queued_at, m.created_at`;
}

/** The cadence's message for a case's step at `offsetDays` (by its key), if queued. */
export async function stepMessage(
  customerId: string,
  caseId: string,
  offsetDays: number,
): Promise<OutboxRow | undefined> {
  const [rule] = await adminSql()`
    select id from public.reminder_rules
     where product_line = 'motor' and kind = 'message' and offset_days = ${offsetDays}`;
  return (await messagesOf(customerId)).find((m) =>
    m.idempotency_key === `cadence:${caseId}:${rule.id}`
  );
}

/**
 * How long a journey waits for the worker and the vendors' callbacks: in the full suite the
 * cadence's days also carry the reminders of every open case the earlier tests left (the big
 * book's thousands among them), all due at the same time as the journey's own.
 */
export const waitMs = 120_000;

/** Waits until message `id` has one of `statuses`; returns it. */
export async function waitStatus(
  customerId: string,
  id: string,
  statuses: string[],
  what: string,
): Promise<OutboxRow> {
  let last: OutboxRow | undefined;
  try {
    return await eventually(async () => {
      last = (await messagesOf(customerId)).find((m) => m.id === id);
      return last && statuses.includes(last.status) && last;
    }, { what: `${what}: ${statuses.join(" or ")}`, timeoutMs: waitMs });
  } catch (error) {
    const { status, provider, attempts, last_error_code, blocked_reason } = last ?? {};
    throw new Error(
      `${(error as Error).message}; the message: ${
        JSON.stringify({ status, provider, attempts, last_error_code, blocked_reason })
      }`,
    );
  }
}

/** A send a sandbox vendor accepted, as its inspection API lists it. */
export interface Accepted {
  id: string;
  to: string;
  body?: string;
  template?: string;
  params: Record<string, unknown>;
  ourId?: string;
}

/** What `vendor` (twilio, aws_sns, aws_ses, whatsapp_cloud) accepted for our message `id`. */
export async function acceptedFor(vendor: string, id: string): Promise<Accepted[]> {
  return await sandboxGet<Accepted[]>(`_inspect/${vendor}/requests?ourId=${id}`);
}

/** Everything `vendor` accepted for `address` (a phone or an email), whoever sent it. */
export async function acceptedTo(vendor: string, address: string): Promise<Accepted[]> {
  const all = await sandboxGet<Accepted[]>(`_inspect/${vendor}/requests`);
  return all.filter((r) => r.to.toLowerCase().split(", ").includes(address.toLowerCase()));
}

/** An SNS SMS attribute as the sandbox received it. */
export function snsAttribute(request: Accepted, name: string): string | undefined {
  const attributes = request.params.messageAttributes as
    | Record<string, { StringValue?: string }>
    | undefined;
  return attributes?.[name]?.StringValue;
}

/**
 * Sets operator settings (public.app_settings) for the journey and returns what puts the
 * previous values back. The journeys' clock is in the past, but the worker claims at the real
 * hour: quiet hours would hold service messages overnight when the suite runs at night.
 */
export async function holdSettings(
  values: Record<string, unknown>,
): Promise<() => Promise<void>> {
  const sql = adminSql();
  const keys = Object.keys(values);
  const saved = await sql<{ key: string; value: unknown }[]>`
    select key, value from public.app_settings where key = any (${keys})`;
  for (const key of keys) {
    await sql`update public.app_settings set value = ${sql.json(values[key] as never)}
               where key = ${key}`;
  }
  return async () => {
    for (const row of saved) {
      await sql`update public.app_settings set value = ${sql.json(row.value as never)}
                 where key = ${row.key}`;
    }
  };
}

/** Service messages at any hour (QUIET_HOURS with equal ends), for the journey's duration. */
export function openServiceHours(): Promise<() => Promise<void>> {
  return holdSettings({ QUIET_HOURS: { start: "00:00", end: "00:00" } });
}

/** The messaging vendors the journeys use. */
const messagingVendors = ["twilio", "aws_sns", "aws_ses", "sendgrid", "whatsapp_cloud"];

/**
 * Starts a journey from an ordinary vendor day, whatever an earlier journey left set: no
 * faults and normal callbacks at every messaging vendor of the sandbox (through its control
 * API; what the vendors accepted so far is kept), and no breaker still in its pause (a breaker
 * left open lets the next send through as its probe once the pause is over: waited for here).
 */
export async function ordinaryVendorDay(): Promise<void> {
  for (const vendor of messagingVendors) {
    await sandboxControl(vendor, {
      outage: false,
      errorRate: 0,
      latencyMs: 0,
      failNext: null,
      rateLimitPerSecond: null,
      callbacks: { mode: "normal" },
    });
  }
  const sql = adminSql();
  await eventually(async () => {
    const rows = await sql<{ breaker: string; until: Date | null }[]>`
      select ps.breaker, ps.breaker_since + make_interval(secs => coalesce(
               (private.setting('PROVIDER_BREAKER') ->> 'open_seconds')::numeric, 30)) as until
        from public.provider_state ps
       where ps.provider in ('twilio', 'aws_sns', 'aws_ses', 'sendgrid')`;
    return rows.every((r) => r.breaker !== "open" || (r.until && r.until.getTime() <= Date.now()));
  }, { what: "the messaging vendors' breakers out of their pause", timeoutMs: waitMs });
}

/**
 * Raises the messaging providers' shared send rates (provider_state.rate_per_second, the
 * operator's limits: SNS 20/s and SES 14/s by default) to `perSecond` for the journey, and
 * returns what puts them back. A journey's reminders go out in the same cadence day as those of
 * every open case the suite's earlier tests left (thousands, with the big book), all due at once;
 * at the default rates the journey's own would wait minutes behind them.
 */
export async function holdProviderRates(perSecond = 500): Promise<() => Promise<void>> {
  const sql = adminSql();
  const saved = await sql<{ provider: string; rate_per_second: number }[]>`
    select provider, rate_per_second from public.provider_state
     where provider = any (${messagingVendors})`;
  await sql`
    update public.provider_state set rate_per_second = ${perSecond}, tokens = ${perSecond},
           tokens_at = now()
     where provider = any (${messagingVendors})`;
  return async () => {
    for (const rate of saved) {
      await sql`
        update public.provider_state
           set rate_per_second = ${rate.rate_per_second},
               tokens = least(tokens, ${rate.rate_per_second})
         where provider = ${rate.provider}`;
    }
  };
}
