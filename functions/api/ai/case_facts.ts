// What the database knows about the subject of an AI request (one case, or one customer's open
// cases), read in the caller's transaction: row-level security decides what exists, so a case or
// customer the caller may not see is a 404 here, before anything is asked of the model. The rules
// and the model's facts are built from this and nothing else.
import type { Tx } from "../../_shared/db.ts";
import type {
  caseStages,
  channelTypes,
  paymentFrequencies,
  productLines,
} from "../../_shared/domain.ts";
import { notFound } from "../../_shared/errors.ts";
import type { AiSubject } from "./subject.ts";

/** Stages in which a case is still open (the lapse-risk model scores only these). */
export const openStages = [
  "new",
  "contacted",
  "quoted",
  "payment_pending",
  "pending_lapse",
] as const;

/** One reason of a stored lapse-risk score (public.case_risk_scores.reasons). */
export interface StoredReason {
  feature: string;
  /** The feature's value: a number, a label (product line, stage), or null. */
  value: unknown;
  /** Points the feature added (positive) or took off (negative). */
  weight: number;
  direction: string;
}

/** The stored lapse-risk score of a case (public.case_risk_scores), or null before it is scored. */
export interface StoredRisk {
  score: number;
  band: "low" | "medium" | "high";
  model_version: string;
  /** ISO 8601 instant of the scoring run. */
  scored_at: string;
  reasons: StoredReason[];
}

/** A renewal case with its policy term, money owed and risk, as the caller sees it. */
export interface CaseFacts {
  case_id: string;
  case_number: string;
  stage: typeof caseStages[number];
  /** IST business day `YYYY-MM-DD` the renewal is due (the policy's last day of cover). */
  due_date: string;
  /** IST business day the grace period ends (equal to due_date without grace). */
  grace_end: string;
  /** due_date minus today (IST): negative once the policy has expired. */
  days_to_expiry: number;
  /** grace_end minus today (IST). */
  grace_days_left: number;
  product_line: typeof productLines[number];
  /** Yearly premium of the term being renewed, in paise. */
  premium: number;
  /** Sum insured (IDV for motor) of the term being renewed, in paise. */
  sum_insured: number;
  payment_frequency: typeof paymentFrequencies[number];
  ncb_percent: number;
  /** Yearly premium of the term before, in paise; null when there is none (or it is hidden). */
  previous_premium: number | null;
  /** Sum insured of the term before, in paise; null when there is none. */
  previous_sum_insured: number | null;
  /** Pending and overdue installments, in paise (public.case_outstanding). */
  outstanding: number;
  /** Unpaid installments past their due date. */
  overdue_installments: number;
  /** Razorpay payments of the case that failed. */
  failed_payments: number;
  risk: StoredRisk | null;
}

/** The message channels a next best action may use. */
export const reachChannels = ["whatsapp", "sms", "email"] as const;

/** One of reachChannels. */
export type ReachChannel = typeof reachChannels[number];

/**
 * Gate answers that say nothing about whether the customer can be reached: outside the WhatsApp
 * window an approved template still goes (the question is asked without one).
 */
const notAboutReach = new Set(["whatsapp_window_closed", "template_not_approved"]);

/** The customer of the subject: what the rules may use, and the name only to personalise. */
export interface CustomerFacts {
  id: string;
  /** Only to put the `<customer>` token back for the desk: never part of a prompt. */
  full_name: string;
  preferred_channel: typeof channelTypes[number] | null;
  has_phone: boolean;
  has_email: boolean;
  /** Whole years since the customer's first policy the caller can see started. */
  tenure_years: number;
  /** The customer wrote on WhatsApp in the last 24 hours (free text may go to them). */
  whatsapp_window_open: boolean;
  /**
   * Per message channel, why the message gate would stop a service message to the customer now
   * (private.draft_block_reasons: no_address, consent_withdrawn, whatsapp_not_opted_in,
   * suppressed, channel_disabled, sms_needs_dlt_template, ...); a channel absent here reaches
   * them. Without an open case only the addresses are known (no_address).
   */
  blocked: Partial<Record<ReachChannel, string>>;
}

/** Settings the rules quote. */
export interface FactSettings {
  /** Days after expiry a motor policy keeps its NCB if renewed (NCB_RETENTION_DAYS). */
  ncb_retention_days: number | null;
  /**
   * Percent an insurer adds to the yearly premium for paying in installments, by frequency
   * (INSTALLMENT_LOADING_PCT); null when the setting is absent.
   */
  installment_loading_pct: Partial<Record<typeof paymentFrequencies[number], number>> | null;
}

/** Everything an AI answer about a subject is built from. */
export interface SubjectFacts {
  /** Today in IST, `YYYY-MM-DD`. */
  today: string;
  customer: CustomerFacts;
  /** The case asked about, or the customer's open cases: highest risk first, then due first. */
  cases: CaseFacts[];
  settings: FactSettings;
}

/**
 * Reads the subject as the caller. Throws the 404 problem when the case or customer does not
 * exist or row-level security hides it. A customer subject covers their open cases only (none is
 * a valid answer); a case subject covers that case whatever its stage. With `reach` (default),
 * the message gate is asked which channels reach the customer (channelBlocks); without it only
 * missing addresses are known.
 */
export async function loadSubjectFacts(
  tx: Tx,
  subject: AiSubject,
  { reach = true }: { reach?: boolean } = {},
): Promise<SubjectFacts> {
  let customerId = subject.customer_id;
  if (subject.case_id !== undefined) {
    const [row] = await tx<{ customer_id: string }[]>`
      select c.customer_id from public.renewal_cases c where c.id = ${subject.case_id}`;
    if (!row) throw notFound("case");
    customerId = row.customer_id;
  }
  const [head] = await tx<
    { today: string; customer: CustomerFacts | null; settings: FactSettings }[]
  >`
    select private.business_date(now())::text as today,
           (select json_build_object(
                     'id', cu.id, 'full_name', cu.full_name,
                     'preferred_channel', cu.preferred_channel,
                     'has_phone', cu.phone is not null, 'has_email', cu.email is not null,
                     'tenure_years', coalesce((
                       select floor((private.business_date(now()) - min(p.start_date)) / 365.25)
                         from public.policies p
                        where p.customer_id = cu.id and p.start_date <= private.business_date(now())
                     ), 0),
                     'whatsapp_window_open', exists (
                       select 1 from public.whatsapp_windows w
                        where w.customer_id = cu.id
                          and w.last_inbound_at + interval '24 hours' > now()))
              from public.customers cu where cu.id = ${customerId!}) as customer,
           json_build_object(
             'ncb_retention_days', (private.setting('NCB_RETENTION_DAYS') #>> '{}')::integer,
             'installment_loading_pct', private.setting('INSTALLMENT_LOADING_PCT')
           ) as settings`;
  if (!head.customer) throw notFound(subject.case_id !== undefined ? "case" : "customer");
  // A row built by json_build_object: the reach is added below.
  const customer: CustomerFacts = { ...head.customer, blocked: {} };
  const cases = await tx<CaseFacts[]>`
    with today as (select private.business_date(now()) as d)
    select c.id as case_id, c.case_number, c.stage, c.due_date::text as due_date,
           c.grace_end::text as grace_end,
           c.due_date - today.d as days_to_expiry, c.grace_end - today.d as grace_days_left,
           p.product_line, p.premium, p.sum_insured, p.payment_frequency,
           p.ncb_percent::integer as ncb_percent,
           prev.premium as previous_premium, prev.sum_insured as previous_sum_insured,
           public.case_outstanding(c.id) as outstanding,
           (select count(*)::integer from public.outstanding_amounts a
             where a.case_id = c.id and a.status in ('pending', 'overdue')
               and a.due_date < today.d) as overdue_installments,
           (select count(*)::integer from public.payments y
             where y.case_id = c.id and y.status = 'failed') as failed_payments,
           case when r.case_id is null then null
                else json_build_object('score', r.score, 'band', r.band,
                                       'model_version', r.model_version,
                                       'scored_at', r.scored_at, 'reasons', r.reasons) end as risk
      from public.renewal_cases c
      join public.policies p on p.id = c.policy_id
      left join public.policies prev on prev.id = p.renewed_from_policy_id
      left join public.case_risk_scores r on r.case_id = c.id
     cross join today
     where ${
    subject.case_id !== undefined
      ? tx`c.id = ${subject.case_id}`
      : tx`c.customer_id = ${customerId!} and c.stage = any(${openStages}::public.case_stage[])`
  }
     order by r.score desc nulls last, c.due_date, c.id`;
  const open = cases.find((c) => (openStages as readonly string[]).includes(c.stage));
  customer.blocked = await channelBlocks(tx, customer, reach ? open?.case_id ?? null : null);
  return { today: head.today, customer, cases, settings: head.settings };
}

/**
 * Why each message channel would not reach the customer now, by the message gate's own rules
 * (private.draft_block_reasons, asked about `openCaseId`, a case the caller sees, for a service
 * message: free text on WhatsApp and email, the first active SMS template on SMS, as an SMS goes
 * only on a registered DLT template). Without an open case, only missing addresses.
 */
export async function channelBlocks(
  tx: Tx,
  customer: Pick<CustomerFacts, "has_phone" | "has_email">,
  openCaseId: string | null,
): Promise<Partial<Record<ReachChannel, string>>> {
  if (openCaseId === null) {
    const blocked: Partial<Record<ReachChannel, string>> = {};
    if (!customer.has_phone) blocked.whatsapp = blocked.sms = "no_address";
    if (!customer.has_email) blocked.email = "no_address";
    return blocked;
  }
  const rows = await tx<{ channel: ReachChannel; reason: string | null }[]>`
    select b.channel::text as channel, b.reason
      from private.draft_block_reasons(${openCaseId}, jsonb_build_array(
             jsonb_build_object('channel', 'whatsapp', 'purpose', 'service', 'template_id', null),
             jsonb_build_object('channel', 'sms', 'purpose', 'service', 'template_id', (
               select t.id from public.templates t
                where t.channel = 'sms' and t.active
                order by t.purpose <> 'service', t.code, t.language, t.id
                limit 1)),
             jsonb_build_object('channel', 'email', 'purpose', 'service', 'template_id', null)
           )) b
     order by b.n`;
  return Object.fromEntries(
    rows.filter((row) => row.reason !== null && !notAboutReach.has(row.reason))
      .map((row) => [row.channel, row.reason!]),
  );
}
