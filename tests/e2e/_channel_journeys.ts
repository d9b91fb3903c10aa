// Shared by journeys 2 (channel_fallbacks.test.ts) and 3 (stop_reply.test.ts): the ladder's
// Punjabi SMS and WhatsApp templates as an admin registers them through the API, customers and
// their policies as the insurer's feed and the onboarding form record them, the ladder steps'
// as_of, the outbox as the database holds it, and what the sandbox's vendors received
// (pg_cron's jobs, held settings and the vendors' ordinary day are in _stack.ts).
//
// Why Punjabi: the ladder's SMS and WhatsApp variants are picked by the customer's language,
// else English, else any. The journeys' customers speak Punjabi, so they get these variants
// whatever English ones other journeys register, and since the variants are switched off again
// when a journey ends, no other journey's customer is ever sent them.
import {
  type Accepted,
  acceptedBy,
  addDays,
  adminSql,
  api,
  istTime,
  json,
  messagesReach,
  type OutboxRow,
  outboxRows,
  sandboxControl,
} from "./_stack.ts";
import {
  type FedPolicy,
  feedPolicy as feedBook,
  freshTag,
  labelled,
  uniqueMobile,
} from "./_book.ts";

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
export interface Onboarded extends FedPolicy {
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

/**
 * Loads a Punjabi-speaking customer with a unique `+9197…` mobile, their consents as the
 * onboarding form recorded them (source web_form), and an active annual motor policy (10% NCB,
 * insurer Journey General) ending on `endDate`, held by `agentEmail` (_book.ts: the insurer's feed
 * and the onboarding form are no part of a journey). Names: see `labelled`.
 */
export async function onboard(form: OnboardingForm): Promise<Onboarded> {
  const names = labelled(form.label, freshTag());
  const email = form.email ?? names.email;
  const fed = await feedBook({
    agentEmail: form.agentEmail,
    customerName: names.customerName,
    phone: uniqueMobile("+9197"),
    email,
    language: journeyLanguage,
    preferredChannel: form.preferredChannel,
    city: form.city ?? "Ludhiana",
    consents: form.consents.map(([channel, purpose]) => ({
      channel,
      purpose,
      source: "web_form",
      evidence: { form: "onboarding", label: form.label },
    })),
    policyNumber: names.policyNumber,
    productLine: "motor",
    insurer: "Journey General",
    premium: form.premium ?? 1_500_000,
    sumInsured: 60000000,
    endDate: form.endDate,
    ncbPercent: 10,
  });
  return { ...fed, email, endDate: form.endDate };
}

/** The as_of of a ladder step: 11:00 IST on the step's day (`offsetDays` from `endDate`). */
export function stepAsOf(endDate: string, offsetDays: number): Date {
  return istTime(addDays(endDate, offsetDays), "11:00");
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

/** Every message of a customer, oldest first. */
export function messagesOf(customerId: string): Promise<OutboxRow[]> {
  return outboxRows({ customerId });
}

/**
 * The cadence's message for a case's step at `offsetDays`, if queued: by its key, which names the
 * case's policy term and the step.
 */
export async function stepMessage(
  customerId: string,
  caseId: string,
  offsetDays: number,
): Promise<OutboxRow | undefined> {
  const [step] = await adminSql()`
    select r.id as rule_id, c.policy_id
      from public.reminder_rules r, public.renewal_cases c
     where r.product_line = 'motor' and r.kind = 'message' and r.offset_days = ${offsetDays}
       and c.id = ${caseId}`;
  return (await messagesOf(customerId)).find((m) =>
    m.idempotency_key === `cadence:${step.policy_id}:${step.rule_id}`
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
  const [message] = await messagesReach([id], statuses, {
    what,
    timeoutMs: waitMs,
    read: async () => (await messagesOf(customerId)).filter((m) => m.id === id),
  });
  return message;
}

/** Everything `vendor` accepted for `address` (a phone or an email), whoever sent it. */
export async function acceptedTo(vendor: string, address: string): Promise<Accepted[]> {
  const all = await acceptedBy(vendor);
  return all.filter((r) => r.to.toLowerCase().split(", ").includes(address.toLowerCase()));
}

/** An SNS SMS attribute as the sandbox received it. */
export function snsAttribute(request: Accepted, name: string): string | undefined {
  const attributes = request.params.messageAttributes as
    | Record<string, { StringValue?: string }>
    | undefined;
  return attributes?.[name]?.StringValue;
}
