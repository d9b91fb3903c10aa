// Which templates word a draft's intent for a case, and whether the intent fits the case at all:
// a grace warning before expiry or a thank-you for an open case would tell the customer something
// untrue. Pure functions over the case as drafts_context.ts reads it.
import type { DraftIntent } from "./drafts_routes.ts";

/** Stages in which a case is still open. */
const openStages = new Set(["new", "contacted", "quoted", "payment_pending", "pending_lapse"]);

/** What the intents look at: IST dates as `YYYY-MM-DD`, money in paise. */
export interface IntentCase {
  stage: string;
  product_line: string;
  /** The case's due date (the policy's expiry). */
  due_date: string;
  grace_end: string;
  /** Today in IST. */
  today: string;
  ncb_percent: number;
  /** NCB_RETENTION_DAYS: how long after expiry a motor no-claim bonus is kept. */
  ncb_days: number;
  /** Still owed on the case (pending and overdue installments), paise. */
  outstanding: number;
  /** Whether the case has an open payment link to send. */
  has_payment_link: boolean;
}

/** Every template code an intent may use, for any case: what the context query reads. */
export const draftIntentCodes: Record<DraftIntent, readonly string[]> = {
  reminder: [
    "renewal_due",
    "renewal_expired",
    "life_grace_end",
    "health_continuity",
    "ncb_at_risk",
  ],
  payment_link: ["payment_link_reminder"],
  grace_warning: ["life_grace_end", "health_continuity", "ncb_at_risk", "renewal_expired"],
  ncb_at_risk: ["ncb_at_risk"],
  quote_ready: ["case_quoted"],
  thank_you: ["case_renewed"],
};

/** The template codes that word the intent for this case, best first; or why it does not fit. */
export type IntentFit = { codes: string[] } | { refusal: string };

/** `YYYY-MM-DD` plus `days`. */
function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Whether the motor no-claim bonus is at stake now: expired, within NCB_RETENTION_DAYS. */
function ncbAtStake(c: IntentCase): boolean {
  return c.product_line === "motor" && c.ncb_percent > 0 && c.today > c.due_date &&
    c.today <= addDays(c.due_date, c.ncb_days);
}

/** The codes for the product line's own after-expiry notice, when it applies now. */
function afterExpiryCodes(c: IntentCase): string[] {
  const codes: string[] = [];
  if (c.product_line === "life" && c.today <= c.grace_end) codes.push("life_grace_end");
  if (c.product_line === "health" && c.today <= c.grace_end) codes.push("health_continuity");
  if (ncbAtStake(c)) codes.push("ncb_at_risk");
  return codes;
}

/**
 * The templates that word `intent` for the case (codes, best first), or the refusal (a sentence)
 * when the intent does not fit it: reminders, payment links, grace and NCB warnings and quotes
 * are for open cases (a payment link needs something owed and an open link; a grace warning the
 * grace period; an NCB warning a motor policy with a bonus, expired within NCB_RETENTION_DAYS);
 * a thank-you is for a renewed case.
 */
export function intentFit(intent: DraftIntent, c: IntentCase): IntentFit {
  const open = openStages.has(c.stage);
  if (intent === "thank_you") {
    return c.stage === "renewed"
      ? { codes: ["case_renewed"] }
      : { refusal: `thank_you is for a renewed case; this one is ${c.stage}.` };
  }
  if (!open) {
    return { refusal: `The case is closed (${c.stage}): only thank_you fits a renewed one.` };
  }
  switch (intent) {
    case "reminder":
      return c.today <= c.due_date
        ? { codes: ["renewal_due"] }
        : { codes: ["renewal_expired", ...afterExpiryCodes(c)] };
    case "payment_link":
      if (c.outstanding <= 0) return { refusal: "Nothing is owed on the case." };
      if (!c.has_payment_link) {
        return {
          refusal: "The case has no open payment link: open one with " +
            "POST /cases/{caseId}/payment-links first.",
        };
      }
      return { codes: ["payment_link_reminder"] };
    case "grace_warning":
      if (c.today <= c.due_date || c.today > c.grace_end) {
        return {
          refusal: `The case is not in its grace period (due ${c.due_date}, grace until ` +
            `${c.grace_end}; today is ${c.today}).`,
        };
      }
      return { codes: [...afterExpiryCodes(c), "renewal_expired"] };
    case "ncb_at_risk":
      if (!ncbAtStake(c)) {
        return {
          refusal: "No no-claim bonus is at stake: that needs a motor policy with a bonus, " +
            `expired within ${c.ncb_days} days.`,
        };
      }
      return { codes: ["ncb_at_risk"] };
    case "quote_ready":
      return { codes: ["case_quoted"] };
  }
}
