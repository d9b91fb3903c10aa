// What the assistant is asked for a risk assessment: the facts (no personal data: cases are
// `case_1`, `case_2`…, the customer is `<customer>`), the instructions, the answer's schema (a
// zod schema sent as a strict JSON schema), and the check its answer must pass. The schema only
// offers the subject's open cases and, per action, the channels that reach the customer; a choice
// with no value is left out of it (strict structured outputs refuse an empty enum), and with
// nothing to choose the model is not asked.
import { z } from "zod";
import { reachChannels, type SubjectFacts } from "./case_facts.ts";
import {
  actionChannels,
  isOpen,
  messageChannel,
  type NextAction,
  nextActions,
  premiumChangePct,
  reachableChannels,
  reaches,
  reasonText,
} from "./risk_rules.ts";

/** The name of the answer's schema as the model sees it. */
export const riskSchemaName = "risk_assessment";

/** The instructions (system message) of a risk assessment. */
export const riskInstructions = [
  "You help an insurance renewal agent in India see why a customer's policy renewal may lapse.",
  "The user message is JSON: the customer's open renewal cases (each with a `ref`), each with its",
  "stored lapse-risk score (0-100; bands low < 35, medium 35-64, high >= 65) and the features that",
  "weighed most (`weight`: points added or taken off, `text`: the feature in words), and a",
  "rule-based next best action. Money is in paise (100 paise = 1 rupee): write rupees (₹).",
  "Write `explanation`: two to four plain sentences for the agent on why the risk is what it is,",
  "from these facts only; invent nothing. Choose `next_best_action`: one case by its `ref`, one",
  "action and channel among those the schema allows, and one sentence telling the agent what to",
  "do. Refer to the customer only as <customer>; never write a name, number or address.",
].join(" ");

/** An action the model may choose and the channels it may choose with it (null: no channel). */
type Branch = { actions: NextAction["action"][]; channels: (NextAction["channel"])[] };

/**
 * The actions and channels the subject allows: a call needs a phone number; a payment link or a
 * reminder a message channel that reaches the customer (the address exists and the message
 * gate's rules let a message go: consent, opt-in, suppressions); discussing options either;
 * updating the contact details is always possible (by phone when there is one, else with no
 * channel). `none` is not offered: the model is asked only about open cases. A branch with no
 * channel is left out, so every branch offers at least one action and one channel.
 */
export function allowedBranches(facts: SubjectFacts): Branch[] {
  const { customer } = facts;
  const messages = reachableChannels(customer);
  const phone = customer.has_phone ? ["phone" as const] : [];
  const branches: Branch[] = [
    { actions: ["call"], channels: phone },
    { actions: ["send_payment_link", "send_reminder"], channels: messages },
    { actions: ["discuss_options"], channels: [...phone, ...messages] },
    { actions: ["update_contact_details"], channels: [...phone, null] },
  ];
  return branches.filter((branch) => branch.actions.length > 0 && branch.channels.length > 0);
}

/**
 * A zod enum of the given values, or null when there is none: an empty enum is no choice at all,
 * and strict structured outputs refuse its JSON schema (`not: {}`).
 */
function enumOf<T extends string>(values: readonly T[]) {
  return values.length === 0 ? null : z.enum(values as [T, ...T[]]);
}

/**
 * The schema of a branch's channel: one of its channels, null among them when the branch allows
 * no channel (`z.null()` alone when that is its only choice).
 */
function channelSchema(channels: readonly NextAction["channel"][]) {
  const named = enumOf(channels.filter((ch): ch is NonNullable<typeof ch> => ch !== null));
  if (!channels.includes(null)) return named;
  return named === null ? z.null() : named.nullable();
}

/** The prompt, schema and check of one risk assessment, and how to read the answer back. */
export interface RiskPrompt {
  facts: Record<string, unknown>;
  schema: z.ZodType<RiskModelAnswer>;
  validate: (answer: RiskModelAnswer) => string | null;
  /** The model's next best action with its case ref turned back into the case id. */
  nextAction: (answer: RiskModelAnswer) => NextAction;
}

/** The model's answer, as the schema describes it. */
export interface RiskModelAnswer {
  explanation: string;
  next_best_action: {
    case: string;
    action: NextAction["action"];
    channel: NextAction["channel"];
    text: string;
  };
}

/**
 * The risk prompt for a subject, given the rules' next action; null when there is nothing to ask
 * (no open case, or no action with a channel to choose: the rules answer alone). The facts carry
 * refs, stages, product lines, days, amounts in paise, scores and reasons, and which channels
 * reach the customer: no name, number, email, address, policy or case number.
 */
export function riskPrompt(facts: SubjectFacts, rules: NextAction): RiskPrompt | null {
  const open = facts.cases.filter(isOpen);
  const refs = new Map(open.map((c, i) => [`case_${i + 1}`, c.case_id]));
  const refOf = new Map([...refs].map(([ref, id]) => [id, ref]));
  const refValues = [...refs.keys()];
  const branches = allowedBranches(facts);
  if (refValues.length === 0 || branches.length === 0) return null;

  const promptFacts = {
    customer: "<customer>",
    customer_tenure_years: facts.customer.tenure_years,
    reachable_by: {
      phone_call: facts.customer.has_phone,
      ...Object.fromEntries(
        reachChannels.map((channel) => [channel, reaches(facts.customer, channel)]),
      ),
    },
    preferred_message_channel: messageChannel(facts.customer),
    cases: open.map((c) => ({
      ref: refOf.get(c.case_id),
      product_line: c.product_line,
      stage: c.stage,
      days_to_expiry: c.days_to_expiry,
      grace_days_left: c.grace_days_left,
      outstanding_paise: c.outstanding,
      overdue_installments: c.overdue_installments,
      failed_payments: c.failed_payments,
      premium_change_pct: premiumChangePct(c),
      ncb_percent: c.ncb_percent,
      payment_frequency: c.payment_frequency,
      risk: c.risk && {
        score: c.risk.score,
        band: c.risk.band,
        model_version: c.risk.model_version,
        reasons: c.risk.reasons.map((reason) => ({
          feature: reason.feature,
          value: reason.value,
          weight: reason.weight,
          text: reasonText(reason, c),
        })),
      },
    })),
    rule_next_best_action: {
      case: rules.case_id ? refOf.get(rules.case_id) ?? null : null,
      action: rules.action,
      channel: rules.channel,
      text: rules.text,
    },
  };

  const action = (branch: Branch) =>
    z.strictObject({
      case: enumOf(refValues)!,
      action: enumOf(branch.actions)!,
      channel: channelSchema(branch.channels)!,
      text: z.string().min(1).max(400),
    });
  const [first, ...rest] = branches.map(action);
  const schema = z.strictObject({
    explanation: z.string().min(1).max(1500),
    next_best_action: rest.length === 0 ? first : z.union([first, ...rest]),
  }) as unknown as z.ZodType<RiskModelAnswer>;

  const validate = (answer: RiskModelAnswer): string | null => {
    const next = answer.next_best_action;
    if (!refs.has(next.case)) return `next_best_action.case ${next.case} is not an open case`;
    if (!(nextActions as readonly string[]).includes(next.action)) return "unknown action";
    if (next.channel !== null && !(actionChannels as readonly string[]).includes(next.channel)) {
      return "unknown channel";
    }
    const allowed = branches.some((branch) =>
      branch.actions.includes(next.action) && branch.channels.includes(next.channel)
    );
    if (!allowed) return `${next.action} by ${next.channel} cannot reach this customer`;
    if (answer.explanation.trim() === "" || next.text.trim() === "") return "empty text";
    return null;
  };

  const nextAction = (answer: RiskModelAnswer): NextAction => ({
    case_id: refs.get(answer.next_best_action.case)!,
    action: answer.next_best_action.action,
    channel: answer.next_best_action.channel,
    text: answer.next_best_action.text,
  });

  return { facts: promptFacts, schema, validate, nextAction };
}
