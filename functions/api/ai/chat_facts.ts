// What the case chat knows about a case: its facts, read as the caller (RLS decides whether the
// case exists at all), with no personal data in them: the customer is the token `<customer>`, and
// there is no name, phone, email, PAN, Aadhaar, policy number or address. The names are read
// beside the facts only so that redact() can take them out of the agent's free text.
import type { Tx } from "../../_shared/db.ts";

/** One installment of the case; money in paise, dates IST `YYYY-MM-DD`. */
export interface InstallmentFact {
  number: number;
  due_date: string;
  amount_paise: number;
  paid_paise: number;
  status: string;
}

/** One of the case's lapse-risk reasons, as public.case_risk_scores stores it. */
export interface RiskReasonFact {
  feature: string;
  value: unknown;
  weight: number;
  direction: string;
}

/** The case's facts as the prompt carries them: nothing that names or reaches the customer. */
export interface CaseFacts {
  case_number: string;
  customer: "<customer>";
  /** Today in IST (`YYYY-MM-DD`): what "days to due" counts from. */
  today: string;
  stage: string;
  priority: string;
  product_line: string;
  insurer: string;
  payment_frequency: string;
  premium_paise: number;
  sum_insured_paise: number;
  ncb_percent: number;
  /** The policy's end: renew by then (IST date). */
  due_date: string;
  /** Last day of grace (IST date); unpaid cases lapse after it. */
  grace_end: string;
  /** Days from today to the due date; negative once it has passed. */
  days_to_due: number;
  /** What is still owed on the case, in paise. */
  outstanding_paise: number;
  installments: InstallmentFact[];
  risk: {
    score: number;
    band: string;
    model_version: string;
    scored_at: string;
    reasons: RiskReasonFact[];
  } | null;
  /** The case's latest messages (newest first, at most 5): channel, template, status, when. */
  recent_messages: { channel: string; template: string | null; status: string; at: string }[];
  /** The case's latest payments (newest first, at most 3). */
  recent_payments: { status: string; amount_paise: number; at: string }[];
  /** Tasks not done yet (soonest SLA first, at most 5). */
  open_tasks: {
    kind: string;
    status: string;
    due_at: string;
    sla_due_at: string;
    escalation_level: number;
  }[];
  customer_language: string;
  preferred_channel: string | null;
}

/** The names redact() must replace in the agent's text: the customer's and the agent's own. */
export interface KnownNames {
  customer: string;
  agent: string | null;
}

/** A case as the chat reads it: its facts, ids the AI ledger needs, and the names to redact. */
export interface ChatCase {
  caseId: string;
  customerId: string;
  facts: CaseFacts;
  names: KnownNames;
}

/**
 * The facts of case `caseId` as the caller sees them, or undefined when the case does not exist
 * or RLS hides it (the caller's 404). Runs in the caller's transaction.
 */
export async function readChatCase(tx: Tx, caseId: string): Promise<ChatCase | undefined> {
  const [row] = await tx<
    {
      case_id: string;
      customer_id: string;
      facts: CaseFacts;
      customer_name: string;
      agent_name: string | null;
    }[]
  >`
    select c.id as case_id, c.customer_id, cu.full_name as customer_name,
           (select nullif(me.full_name, '') from public.profiles me where me.id = auth.uid())
             as agent_name,
           json_build_object(
             'case_number', c.case_number,
             'customer', '<customer>',
             'today', private.business_date(now())::text,
             'stage', c.stage,
             'priority', c.priority,
             'product_line', p.product_line,
             'insurer', p.insurer,
             'payment_frequency', p.payment_frequency,
             'premium_paise', p.premium,
             'sum_insured_paise', p.sum_insured,
             'ncb_percent', p.ncb_percent,
             'due_date', c.due_date::text,
             'grace_end', c.grace_end::text,
             'days_to_due', c.due_date - private.business_date(now()),
             'outstanding_paise', public.case_outstanding(c.id),
             'installments', coalesce((
               select json_agg(json_build_object(
                        'number', o.installment_number, 'due_date', o.due_date::text,
                        'amount_paise', o.amount, 'paid_paise', o.amount_paid,
                        'status', o.status) order by o.installment_number)
                 from public.outstanding_amounts o where o.case_id = c.id), '[]'),
             'risk', (select json_build_object('score', r.score, 'band', r.band,
                                               'model_version', r.model_version,
                                               'scored_at', r.scored_at, 'reasons', r.reasons)
                        from public.case_risk_scores r where r.case_id = c.id),
             'recent_messages', coalesce((
               select json_agg(json_build_object('channel', m.channel, 'template', t.code,
                                                 'status', m.status, 'at', m.created_at)
                               order by m.created_at desc)
                 from (select m.* from public.messages m where m.case_id = c.id
                        order by m.created_at desc, m.id limit 5) m
                 left join public.templates t on t.id = m.template_id), '[]'),
             'recent_payments', coalesce((
               select json_agg(json_build_object('status', y.status, 'amount_paise', y.amount,
                                                 'at', y.created_at) order by y.created_at desc)
                 from (select y.* from public.payments y where y.case_id = c.id
                        order by y.created_at desc, y.id limit 3) y), '[]'),
             'open_tasks', coalesce((
               select json_agg(json_build_object('kind', k.kind, 'status', k.status,
                                                 'due_at', k.due_at, 'sla_due_at', k.sla_due_at,
                                                 'escalation_level', k.escalation_level)
                               order by k.sla_due_at)
                 from (select k.* from public.tasks k where k.case_id = c.id and k.status <> 'done'
                        order by k.sla_due_at, k.id limit 5) k), '[]'),
             'customer_language', cu.language,
             'preferred_channel', cu.preferred_channel
           ) as facts
      from public.renewal_cases c
      join public.policies p on p.id = c.policy_id
      join public.customers cu on cu.id = c.customer_id
     where c.id = ${caseId}`;
  if (!row) return undefined;
  return {
    caseId: row.case_id,
    customerId: row.customer_id,
    facts: row.facts,
    names: { customer: row.customer_name, agent: row.agent_name },
  };
}
