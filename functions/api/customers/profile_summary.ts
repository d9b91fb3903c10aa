// The customer profile's summary in words (`ai_summary`): the assistant's, written from the
// profile's own figures and nothing else (no name, no contact details, no ids), or the rules'
// from the same figures. The assistant's summary is cached with no age limit: the prompt is the
// figures, so the same figures are answered from the cache and changed figures (a payment that
// failed, a message read) make a new prompt hash and a new summary. A profile is a page the desk
// opens many times: it never answers 429, so a rate-limited summary is the rules'.
import { z } from "zod";
import { askStructured } from "../../_shared/ai/assistant.ts";
import { personalise, redact } from "../../_shared/ai/redact.ts";
import type { Claims } from "../../_shared/db.ts";
import { type Provenance, provenanceOf } from "../ai/answer.ts";
import type { EngagementSchema, PaymentBehaviourSchema, ProfileRiskSchema } from "./routes.ts";

/** The figures private.customer_profile_figures() returns; money in paise, rates 0-1. */
export interface ProfileFigures {
  /** The start of the engagement period (`days` before the profile was read). */
  since: string;
  days: number;
  risk: z.infer<typeof ProfileRiskSchema>;
  engagement: z.infer<typeof EngagementSchema>;
  payment_behaviour: z.infer<typeof PaymentBehaviourSchema>;
}

/** The profile's `ai_summary`: the text, where it came from, and when it was written. */
export interface ProfileSummary extends Provenance {
  text: string;
  generated_at: string;
}

/** The answer asked of the model. */
export const ProfileSummaryAnswer = z.object({
  summary: z.string().min(1).max(700),
});

/** The name of the answer's schema as the model sees it. */
export const profileSummarySchemaName = "profile_summary";

/** The instructions (system message) of a profile summary. */
export const profileSummaryInstructions = [
  "You help an insurance renewal agent in India read a customer's profile at a glance.",
  "The user message is JSON: the lapse-risk scores of the customer's open renewal cases (0-100;",
  "bands low < 35, medium 35-64, high >= 65) with the features that weighed most (`weight`: points",
  "added or taken off), how the customer engaged with our messages over the last `days` days",
  "(delivered, read, tracked payment links clicked, replies, with rates from 0 to 1), and their",
  "payment behaviour (installments paid on time or late, overdue now with the amount in paise,",
  "failed payments). Money is in paise (100 paise = 1 rupee): write rupees (₹).",
  "Write `summary`: two or three short plain sentences for the agent, in English, saying what",
  "matters for this renewal, from these facts only; invent nothing and leave out what is zero or",
  "unknown. Refer to the customer only as <customer>; never write a name, number or address.",
].join(" ");

/**
 * The facts the model is given: the figures without ids, case numbers or times (a summary that
 * changed every time a score was rewritten with the same value would never be served from the
 * cache), cases in the figures' order (highest score first).
 */
export function summaryFacts(f: ProfileFigures) {
  return {
    days: f.days,
    risk: {
      open_cases: f.risk.open_cases,
      scored_cases: f.risk.scored_cases,
      highest_score: f.risk.highest_score,
      highest_band: f.risk.highest_band,
      cases: f.risk.cases.map((c) => ({
        stage: c.stage,
        score: c.score,
        band: c.band,
        reasons: c.reasons.map((r) => ({ feature: r.feature, value: r.value, weight: r.weight })),
      })),
    },
    engagement: f.engagement,
    payment_behaviour: {
      installments_paid_on_time: f.payment_behaviour.installments_paid_on_time,
      installments_paid_late: f.payment_behaviour.installments_paid_late,
      installments_overdue: f.payment_behaviour.installments_overdue,
      overdue_amount_paise: f.payment_behaviour.overdue_amount,
      installments_upcoming: f.payment_behaviour.installments_upcoming,
      failed_payments: f.payment_behaviour.failed_payments,
      on_time_rate: f.payment_behaviour.on_time_rate,
    },
  };
}

/** Paise as rupees the Indian way (private.format_inr): 1500000 → ₹15,000; 2813850 → ₹28,138.50. */
export function formatInr(paise: number): string {
  const rupees = Math.floor(Math.abs(paise) / 100).toLocaleString("en-IN");
  const rest = Math.abs(paise) % 100;
  return `${paise < 0 ? "-" : ""}₹${rupees}${rest ? `.${String(rest).padStart(2, "0")}` : ""}`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const percent = (rate: number) => `${Math.round(rate * 100)}%`;

/** Feature names of the lapse-risk reasons in words, for the rules' summary. */
const featureWords: Record<string, string> = {
  days_to_expiry: "the expiry date",
  overdue_installments: "overdue installments",
  failed_payments: "failed payments",
  late_installments_before: "late payments before",
  earlier_lapses: "earlier lapses",
  reminders_ignored: "reminders ignored",
  messages_read: "messages read",
  link_opened: "payment link opened",
  replied: "a recent reply",
  premium_change_pct: "the premium change",
  ncb_at_stake_pct: "the no-claim bonus at stake",
  tenure_years: "years with us",
  product_line: "the product line",
  reachable_channels: "how many channels reach them",
  stage: "the case's stage",
};

/**
 * The rules' summary: a sentence each on risk, engagement and payments, from the figures alone.
 * Always at least one sentence.
 */
export function rulesSummary(f: ProfileFigures): string {
  const sentences: string[] = [];
  const { risk, engagement: e, payment_behaviour: p } = f;
  if (risk.open_cases === 0) {
    sentences.push("No open renewal case.");
  } else if (risk.highest_score === null) {
    sentences.push(`${plural(risk.open_cases, "open renewal case")}, not scored yet.`);
  } else {
    const top = risk.cases[0];
    const raising = top.reasons.filter((r) => r.weight > 0)
      .map((r) => featureWords[r.feature] ?? r.feature.replaceAll("_", " "));
    sentences.push(
      `${
        risk.highest_band === "high" ? "High" : risk.highest_band === "medium" ? "Medium" : "Low"
      } ` +
        `lapse risk (${risk.highest_score}/100) on ${plural(risk.open_cases, "open case")}` +
        (raising.length > 0 ? `, raised by ${raising.join(", ")}.` : "."),
    );
  }
  if (e.messages_sent === 0) {
    sentences.push(`No messages in the last ${f.days} days.`);
  } else {
    const parts = [`${e.delivered} of ${plural(e.messages_sent, "message")} delivered`];
    if (e.read > 0) parts.push(`${e.read} read`);
    if (e.links_offered > 0) {
      parts.push(
        e.links_clicked > 0
          ? `${e.links_clicked} of ${plural(e.links_offered, "payment link")} opened`
          : `${e.links_offered === 1 ? "the payment link" : "no payment link"} not opened`,
      );
    }
    parts.push(e.replies > 0 ? plural(e.replies, "reply", "replies") : "no reply");
    sentences.push(`In the last ${f.days} days: ${parts.join(", ")}.`);
  }
  const paid = p.installments_paid_on_time + p.installments_paid_late;
  const money: string[] = [];
  if (paid > 0) {
    money.push(
      `${p.installments_paid_on_time} of ${plural(paid, "installment")} paid on time` +
        (p.on_time_rate !== null ? ` (${percent(p.on_time_rate)})` : ""),
    );
  }
  if (p.installments_overdue > 0) {
    money.push(
      `${plural(p.installments_overdue, "installment")} overdue (${formatInr(p.overdue_amount)})`,
    );
  }
  if (p.failed_payments > 0) money.push(plural(p.failed_payments, "failed payment"));
  sentences.push(
    money.length > 0 ? `Payments: ${money.join(", ")}.` : "No payment history yet.",
  );
  return sentences.join(" ");
}

/**
 * Why the model's summary may not be shown, or null: personal data in it (anything redact()
 * would replace: a phone number, email, PAN or Aadhaar number), a {{placeholder}}, or a token the
 * model could not have been given.
 */
export function summaryProblem(text: string): string | null {
  if (redact(text) !== text) return "personal data in the summary";
  if (/\{\{|\}\}/.test(text)) return "a placeholder in the summary";
  if (/<(phone|email|pan|aadhaar|agent)>/.test(text)) return "a redaction token in the summary";
  return null;
}

/** What profileSummary() needs. */
export interface SummaryRequest {
  claims: Claims;
  customerId: string;
  /** The customer's full name, for personalise() (never sent). */
  customerName: string;
  figures: ProfileFigures;
  /** When the profile was read (ISO): the rules' generated_at. */
  now: string;
  /** When the model wrote the answer of an ai_requests row (for a cache hit, the source's). */
  writtenAt: (requestId: string) => Promise<string | null>;
}

/**
 * The profile's `ai_summary`: the assistant's summary of the figures (purpose profile_summary,
 * cached with no age limit), with `<customer>` as the customer's first name; or the rules' with
 * the reason, rate_limited included (a profile never answers 429).
 */
export async function profileSummary(request: SummaryRequest): Promise<ProfileSummary> {
  const answer = await askStructured({
    purpose: "profile_summary",
    claims: request.claims,
    customerId: request.customerId,
    schema: ProfileSummaryAnswer,
    schemaName: profileSummarySchemaName,
    instructions: profileSummaryInstructions,
    facts: summaryFacts(request.figures),
    known: { customer: request.customerName },
    cacheSeconds: Infinity,
    validate: (value) => summaryProblem(value.summary),
  });
  if (answer.source === "rules") {
    return {
      text: rulesSummary(request.figures),
      ...provenanceOf(answer),
      generated_at: request.now,
    };
  }
  const generatedAt = (await request.writtenAt(answer.requestId)) ?? request.now;
  return {
    text: personalise(answer.value.summary, { customer: request.customerName }),
    source: answer.source,
    ai_request_id: answer.requestId,
    generated_at: generatedAt,
  };
}
