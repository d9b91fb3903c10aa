// Shared by journeys 4 (life_lapse.test.ts) and 7 (agent_day.test.ts): the insurer's policy feed
// for one customer and policy, the case and its installments, and the messages of a case as the
// database holds them, as the worker moves them and as the sandbox's email vendor received them
// (pg_cron's jobs, the send hours, the vendors' ordinary day and retiring cases: _stack.ts).
import {
  acceptedBy,
  adminSql,
  messagesReach,
  type MessageState,
  type OutboxRow,
  outboxRows,
} from "./_stack.ts";
import {
  type FedPolicy,
  feedPolicy as feedBook,
  freshTag,
  labelled,
  uniqueMobile,
} from "./_book.ts";

/** What journeys 4 and 7 ask of the policy feed. Amounts in paise; dates IST (YYYY-MM-DD). */
export interface DeskFeed {
  /** The agent who holds the policy (a seeded user's email). */
  agentEmail: string;
  productLine: "motor" | "health" | "life" | "home";
  paymentFrequency?: "annual" | "half_yearly" | "quarterly" | "monthly";
  /** Yearly premium, paise. */
  premium: number;
  /** Sum insured (IDV for motor), paise. */
  sumInsured: number;
  /** Last day of cover: the renewal is due then. */
  endDate: string;
  ncbPercent?: number;
  /** Starts the customer's name and the policy number, so a journey's rows are easy to find. */
  label: string;
}

/**
 * Loads one customer and one active policy as the insurer's policy feed would (_book.ts): an
 * English-speaking customer with a `+9198…` mobile, no consents recorded, insurer Journey
 * Assurance. The names, numbers and addresses are unique per call (see `labelled`).
 */
export async function feedPolicy(feed: DeskFeed): Promise<FedPolicy & { email: string }> {
  const names = labelled(feed.label, freshTag());
  return {
    ...await feedBook({
      agentEmail: feed.agentEmail,
      customerName: names.customerName,
      email: names.email,
      phone: uniqueMobile("+9198"),
      language: "en",
      policyNumber: names.policyNumber,
      productLine: feed.productLine,
      insurer: "Journey Assurance",
      premium: feed.premium,
      sumInsured: feed.sumInsured,
      endDate: feed.endDate,
      frequency: feed.paymentFrequency,
      ncbPercent: feed.ncbPercent,
    }),
    email: names.email,
  };
}

/** A renewal case as the database holds it; dates as IST YYYY-MM-DD. */
export interface CaseRow {
  id: string;
  case_number: string;
  stage: string;
  priority: string;
  due_date: string;
  grace_end: string;
  assignee_email: string;
  closed_at: Date | null;
  policy_status: string;
}

/** The renewal case of a policy, or undefined while it has none. */
export async function caseOfPolicy(policyId: string): Promise<CaseRow | undefined> {
  const [row] = await adminSql()<CaseRow[]>`
    select c.id, c.case_number, c.stage::text, c.priority::text, c.due_date::text,
           c.grace_end::text, a.email as assignee_email, c.closed_at, p.status::text as policy_status
      from public.renewal_cases c
      join public.policies p on p.id = c.policy_id
      join public.profiles a on a.id = c.assignee_id
     where c.policy_id = ${policyId}`;
  return row;
}

/** An installment of a case; amount in paise. */
export interface InstallmentRow {
  installment_number: number;
  due_date: string;
  amount: number;
  status: string;
}

/** The installments of a case, in order. */
export async function installmentsOf(caseId: string): Promise<InstallmentRow[]> {
  const rows = await adminSql()<InstallmentRow[]>`
    select installment_number, due_date::text, amount::integer as amount, status::text
      from public.outstanding_amounts where case_id = ${caseId} order by installment_number`;
  return [...rows];
}

/** The messages of a case, oldest queued first. */
export function messagesOfCase(caseId: string): Promise<OutboxRow[]> {
  return outboxRows({ caseId });
}

/**
 * Waits until the worker has handed each of `ids` to its vendor and the vendor's delivery
 * callback has come back (status delivered or read); returns their state. The minute allowed
 * covers the worker's start on a busy machine (the stack does not wait for it).
 */
export function waitDelivered(ids: string[], what = "the messages"): Promise<MessageState[]> {
  return messagesReach(ids, ["delivered", "read"], { what: `${what} delivered` });
}

/** Waits until the vendor has accepted each of `ids` (sent, delivered or read). */
export async function waitSent(ids: string[], what = "the messages"): Promise<void> {
  await messagesReach(ids, ["sent", "delivered", "read"], { what: `${what} sent` });
}

/** An email send the sandbox accepted (SES or SendGrid), as its inspection API lists it. */
export interface EmailRequest {
  /** The provider message id the vendor answered with. */
  id: string;
  to: string;
  subject?: string;
  body?: string;
  ourId?: string;
}

/**
 * The sends the sandbox accepted for our email `messageId`, from the vendor the worker used
 * (SES, or SendGrid when SES's breaker sent it to the fallback), with that vendor's code.
 */
export async function emailRequestsFor(
  messageId: string,
): Promise<{ provider: string; requests: EmailRequest[] }> {
  const [row] = await adminSql()`select provider from public.messages where id = ${messageId}`;
  const provider = row?.provider as string;
  if (provider !== "aws_ses" && provider !== "sendgrid") {
    throw new Error(`message ${messageId} went by ${provider}, not an email vendor`);
  }
  const requests = await acceptedBy<EmailRequest>(provider, messageId);
  return { provider, requests };
}
