// The rule-based risk assessment: each stored reason of a lapse-risk score worded as a sentence,
// an explanation made of them, and a next best action chosen by rules from the reasons and the
// case. The answer when the assistant is off or fails, and what the model is shown as a start.
// Texts name the customer only as the token `<customer>`; the handler puts the first name back.
import type {
  CaseFacts,
  CustomerFacts,
  ReachChannel,
  StoredReason,
  SubjectFacts,
} from "./case_facts.ts";
import { openStages, reachChannels } from "./case_facts.ts";
import { counted, points, rupees, stageWords } from "./wording.ts";

/** What the agent should do next. */
export const nextActions = [
  "call",
  "send_payment_link",
  "send_reminder",
  "discuss_options",
  "update_contact_details",
  "none",
] as const;

/** How to do it: a phone call or one of the message channels; null when no contact is needed. */
export const actionChannels = ["phone", "whatsapp", "sms", "email"] as const;

/** A next best action; texts carry `<customer>` for the customer. */
export interface NextAction {
  /** The case it is about; null when the customer has no case to act on. */
  case_id: string | null;
  action: typeof nextActions[number];
  channel: typeof actionChannels[number] | null;
  text: string;
}

/** A premium rise (percent, at the last renewal) from which the options are worth discussing. */
export const premiumRiseToDiscussPct = 10;

/** Whether a case is still open (not renewed, lapsed, lost or not taken). */
export const isOpen = (c: CaseFacts) => (openStages as readonly string[]).includes(c.stage);

const capital = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

const num = (value: unknown) => typeof value === "number" ? value : Number(value);

/** The premium change at the last renewal in percent (1 decimal), or null without a term before. */
export function premiumChangePct(c: CaseFacts): number | null {
  if (!c.previous_premium) return null;
  return Math.round(1000 * (c.premium - c.previous_premium) / c.previous_premium) / 10;
}

/** The sentence of one stored reason (without its points): what the feature says about the case. */
export function reasonSentence(reason: StoredReason, c: CaseFacts): string {
  const v = num(reason.value);
  switch (reason.feature) {
    case "days_to_expiry":
      if (v > 0) return `The policy expires in ${counted(v, "day")}`;
      if (v === 0) return "The policy expires today";
      return c.grace_days_left >= 0
        ? `The policy expired ${counted(-v, "day")} ago; ${
          counted(c.grace_days_left, "day")
        } of grace left`
        : `The policy expired ${counted(-v, "day")} ago and its grace period is over`;
    case "overdue_installments":
      return `${counted(v, "installment")} past ${v === 1 ? "its" : "their"} due date`;
    case "failed_payments":
      return `${counted(v, "payment attempt")} failed`;
    case "late_installments_before":
      return `${counted(v, "installment")} of earlier renewals paid late or never`;
    case "earlier_lapses":
      return `<customer> let ${counted(v, "earlier policy", "earlier policies")} lapse or expire`;
    case "reminders_ignored":
      return `${
        counted(v, "reminder")
      } delivered in the last 60 days, none read, clicked or answered`;
    case "messages_read":
      return `<customer> read ${counted(v, "message")} in the last 60 days`;
    case "link_opened":
      return `<customer> opened the renewal link ${
        v === 1 ? "once" : `${v} times`
      } in the last 60 days`;
    case "replied":
      return v === 0
        ? "<customer> wrote to us on WhatsApp today"
        : `<customer> wrote to us on WhatsApp ${counted(v, "day")} ago`;
    case "premium_change_pct":
      return v >= 0
        ? `The premium rose ${v}% at the last renewal`
        : `The premium fell ${-v}% at the last renewal`;
    case "ncb_at_stake_pct":
      return `A no-claim bonus of ${v}% is at stake`;
    case "tenure_years":
      return v < 1
        ? "<customer> has been with us less than a year"
        : `<customer> has been with us ${counted(v, "year")}`;
    case "product_line":
      return `${capital(String(reason.value))} policies ${
        reason.weight > 0 ? "lapse more often" : "renew more reliably"
      } than most`;
    case "reachable_channels":
      return v === 0
        ? "No message channel reaches <customer> (addresses missing or suppressed)"
        : `Only ${counted(v, "message channel")} reaches <customer>`;
    case "stage":
      return `The case is already ${
        stageWords[reason.value as CaseFacts["stage"]] ?? reason.value
      }`;
    default:
      return `${reason.feature.replaceAll("_", " ")}: ${String(reason.value)}`;
  }
}

/** A reason as the desk reads it: its sentence and its points, "… (+12 points)". */
export function reasonText(reason: StoredReason, c: CaseFacts): string {
  return `${reasonSentence(reason, c)} (${points(reason.weight)})`;
}

/** One case's part of the explanation: its score and band, then its reasons. */
export function caseExplanation(c: CaseFacts): string {
  const head = `Case ${c.case_number} (${c.product_line}, due ${c.due_date})`;
  if (!isOpen(c)) return `${head} is ${stageWords[c.stage]}: a closed case has no lapse risk.`;
  if (!c.risk) return `${head} is not scored yet; scores are computed daily.`;
  const reasons = c.risk.reasons.map((reason) => `${reasonText(reason, c)}.`).join(" ");
  return `${head}: lapse risk ${c.risk.score} of 100, ${c.risk.band}. ${reasons}`;
}

/** The rule-based explanation of every case of the subject. */
export function ruleExplanation(facts: SubjectFacts): string {
  if (facts.cases.length === 0) return "<customer> has no open renewal case.";
  return facts.cases.map(caseExplanation).join(" ");
}

/** A channel as the desk says it. */
const channelNames = { whatsapp: "WhatsApp", sms: "SMS", email: "email" } as const;

/**
 * Whether a message on `channel` reaches the customer now: they have the address (a phone for
 * WhatsApp and SMS, an email) and the message gate's rules would let a service message go
 * (CustomerFacts.blocked).
 */
export function reaches(customer: CustomerFacts, channel: ReachChannel): boolean {
  const address = channel === "email" ? customer.has_email : customer.has_phone;
  return address && customer.blocked[channel] === undefined;
}

/** The message channels that reach the customer now, in the order whatsapp, sms, email. */
export function reachableChannels(customer: CustomerFacts): ReachChannel[] {
  return reachChannels.filter((channel) => reaches(customer, channel));
}

/**
 * The message channel to use with this customer: their preferred one if it reaches them, else
 * the first of whatsapp, sms, email that does; null when none does.
 */
export function messageChannel(customer: CustomerFacts): ReachChannel | null {
  const preferred = customer.preferred_channel;
  if (preferred === "whatsapp" || preferred === "sms" || preferred === "email") {
    if (reaches(customer, preferred)) return preferred;
  }
  return reachableChannels(customer)[0] ?? null;
}

/** The gate's reasons in words, for the desk. */
const blockWords: Record<string, string> = {
  no_address: "no address",
  consent_withdrawn: "consent withdrawn",
  no_consent: "no consent",
  whatsapp_not_opted_in: "not opted in",
  suppressed: "suppressed",
  dnd: "on the DND registry",
  channel_disabled: "switched off",
  sms_needs_dlt_template: "no DLT template",
};

/** Why no message channel reaches the customer: "WhatsApp: not opted in, SMS: suppressed, ...". */
function unreachableWhy(customer: CustomerFacts): string {
  return reachChannels.map((channel) => {
    const address = channel === "email" ? customer.has_email : customer.has_phone;
    const why = (address ? customer.blocked[channel] : undefined) ?? "no_address";
    return `${channelNames[channel]}: ${blockWords[why] ?? why.replaceAll("_", " ")}`;
  }).join(", ");
}

/** What is owed, in words: "₹15,000", or "the renewal premium" when nothing is outstanding. */
const owed = (c: CaseFacts) => c.outstanding > 0 ? rupees(c.outstanding) : "the renewal premium";

/**
 * The rule-based next best action for the subject: about its first open case (the riskiest),
 * from the first rule that applies: no way to reach the customer → update contact details; a
 * failed payment → call and send a fresh link; expired (in grace) → call; reminders ignored →
 * call; the premium rose ≥ 10% → discuss the options; high band → call; quoted or awaiting
 * payment → payment link; medium band → reminder; else let the reminder ladder run.
 */
export function ruleNextAction(facts: SubjectFacts): NextAction {
  const { customer } = facts;
  const c = facts.cases.find(isOpen);
  if (!c) {
    const closed = facts.cases[0];
    return {
      case_id: closed?.case_id ?? null,
      action: "none",
      channel: null,
      text: closed
        ? `Case ${closed.case_number} is ${stageWords[closed.stage]}: nothing to do.`
        : "<customer> has no open renewal case: nothing to do.",
    };
  }
  const reason = (feature: string) => c.risk?.reasons.find((r) => r.feature === feature);
  const channel = messageChannel(customer);
  const act = (
    action: NextAction["action"],
    how: NextAction["channel"],
    text: string,
  ): NextAction => ({ case_id: c.case_id, action, channel: how, text });
  const call = customer.has_phone;
  const via = channel ? ` on ${channelNames[channel]}` : "";

  if (channel === null || num(reason("reachable_channels")?.value) === 0) {
    return act(
      "update_contact_details",
      call ? "phone" : null,
      `No message channel reaches <customer>${
        channel === null ? ` (${unreachableWhy(customer)})` : ""
      }: ` +
        `${call ? "call them to " : ""}confirm their mobile number, email and consent, then send ` +
        "the renewal reminder again.",
    );
  }
  if (c.failed_payments > 0) {
    const text = `${counted(c.failed_payments, "payment attempt")} failed: ${
      call ? "call <customer> and " : ""
    }send a fresh payment link for ${owed(c)}${via}.`;
    return call ? act("call", "phone", text) : act("send_payment_link", channel, text);
  }
  if (c.days_to_expiry < 0) {
    const grace = c.grace_days_left >= 0
      ? `${counted(c.grace_days_left, "day")} of grace left (until ${c.grace_end})`
      : "the grace period is over";
    const text = `The policy expired ${counted(-c.days_to_expiry, "day")} ago, ${grace}: ${
      call ? "call <customer> today to" : "ask <customer>" + via + " to"
    } pay ${owed(c)}.`;
    return call ? act("call", "phone", text) : act("send_payment_link", channel, text);
  }
  const ignored = reason("reminders_ignored");
  if (ignored && call) {
    return act(
      "call",
      "phone",
      `${counted(num(ignored.value), "reminder")} went unanswered: call <customer> rather than ` +
        "send another.",
    );
  }
  const rise = premiumChangePct(c);
  if (rise !== null && rise >= premiumRiseToDiscussPct) {
    return act(
      "discuss_options",
      call ? "phone" : channel,
      `The premium rose ${rise}% at the last renewal: go through the renewal options with ` +
        "<customer> (installments, sum insured, add-ons) before it lapses.",
    );
  }
  if (c.risk?.band === "high" && call) {
    return act(
      "call",
      "phone",
      `Lapse risk is high (${c.risk.score} of 100) with ${counted(c.days_to_expiry, "day")} to ` +
        "expiry: call <customer> this week.",
    );
  }
  if ((c.stage === "quoted" || c.stage === "payment_pending") && c.outstanding > 0) {
    return act(
      "send_payment_link",
      channel,
      `<customer> has the quote: send a payment link for ${owed(c)}${via}.`,
    );
  }
  if (c.risk?.band === "medium" || c.risk?.band === "high") {
    return act(
      "send_reminder",
      channel,
      `Send <customer> a renewal reminder${via}: the policy expires in ${
        counted(c.days_to_expiry, "day")
      }.`,
    );
  }
  return act(
    "send_reminder",
    channel,
    `${
      c.risk ? "Lapse risk is low" : "Not scored yet"
    }: let the reminder ladder run${via}; the policy expires in ${
      counted(c.days_to_expiry, "day")
    }.`,
  );
}
