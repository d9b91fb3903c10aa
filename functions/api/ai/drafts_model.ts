// What the assistant is asked for a draft, and how its answer becomes one. Two kinds of question:
//   template: SMS (always: India's DLT) and WhatsApp outside the 24-hour window (an approved
//             template): the model chooses one of the matching templates and, when it has a
//             {{message}} slot, writes that slot (a DLT variable: 30 characters at most);
//   free:     email, and WhatsApp inside the window: the model writes the text, with {{placeholders}}
//             where the case's values go, which are filled here.
// The facts hold no personal data: the intent, product line, stage, days, the template texts
// (placeholders, not values) and which placeholders can be filled. The customer is <customer>.
import { z } from "zod";
import type { DraftChannel } from "./drafts_channels.ts";
import type { DraftContext, DraftTemplate } from "./drafts_context.ts";
import type { DraftIntent } from "./drafts_routes.ts";
import {
  baseLanguage,
  hasMessageSlot,
  languageNames,
  placeholderNames,
  scriptProblem,
  textProblem,
} from "./drafts_text.ts";

/** The longest {{message}} the model may write: a DLT variable slot on SMS, a line elsewhere. */
export const messageSlotMax: Record<DraftChannel, number> = { sms: 30, whatsapp: 300, email: 500 };

/** What each placeholder holds, for the model (never the values). */
const placeholderMeanings: Record<string, string> = {
  customer_name: "the customer's name",
  policy_number: "the policy number",
  case_number: "the renewal case number",
  product_line: "the product line (motor, health, life, home)",
  insurer: "the insurer's name",
  premium: "the renewal premium in rupees",
  amount_due: "the amount of the next installment owed, in rupees",
  expiry_date: "the date the policy expires (expired)",
  due_date: "the date the next installment is due",
  grace_end: "the last day of the grace period",
  ncb_percent: "the no-claim bonus, in percent",
  ncb_deadline: "the last day to renew and keep the no-claim bonus",
  agent_name: "the agent's name",
  payment_link: "the link to pay online",
};

const intentMeanings: Record<DraftIntent, string> = {
  reminder: "remind the customer that their policy renewal is due (or that it expired)",
  payment_link: "ask the customer to pay the amount due with the payment link",
  grace_warning: "warn the customer that the policy is in its grace period and will lapse",
  ncb_at_risk: "warn the customer that their motor no-claim bonus is lost unless they renew soon",
  quote_ready: "tell the customer their renewal quote is ready",
  thank_you: "thank the customer for renewing",
};

/** Days from `from` to `to` (IST dates `YYYY-MM-DD`). */
function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

/** The facts every draft question carries: about the case, never about the person. */
function caseFacts(
  ctx: DraftContext,
  intent: DraftIntent,
  channel: DraftChannel,
  language: string,
) {
  return {
    intent,
    goal: intentMeanings[intent],
    channel,
    language,
    language_name: languageNames[baseLanguage(language)] ?? language,
    product_line: ctx.product_line,
    stage: ctx.stage,
    days_to_expiry: daysBetween(ctx.today, ctx.due_date),
    days_left_in_grace: ctx.today > ctx.due_date ? daysBetween(ctx.today, ctx.grace_end) : null,
    ncb_percent: ctx.product_line === "motor" ? ctx.ncb_percent : null,
    outstanding_paise: ctx.outstanding,
    risk_band: ctx.risk_band,
  };
}

/** A question for askStructured: its schema, name, instructions, facts and check. */
export interface DraftQuestion<T> {
  schema: z.ZodType<T>;
  schemaName: string;
  instructions: string;
  facts: unknown;
  validate: (value: T) => string | null;
}

/** The template question's answer. */
export interface TemplateChoice {
  template_code: string;
  message?: string | null;
}

/**
 * The template question, or null when there is nothing to ask (no template; one template and no
 * free slot: the rules' answer is the only one).
 */
export function templateQuestion(
  ctx: DraftContext,
  intent: DraftIntent,
  channel: DraftChannel,
  templates: readonly DraftTemplate[],
): DraftQuestion<TemplateChoice> | null {
  const slot = templates.some((t) => hasMessageSlot(t.body));
  // No template is no choice (and an empty enum no schema); one without a slot is the rules'.
  if (templates.length === 0 || (templates.length < 2 && !slot)) return null;
  const codes = templates.map((t) => t.code) as [string, ...string[]];
  const max = messageSlotMax[channel];
  const language = templates[0].language;
  const schema = slot
    ? z.object({ template_code: z.enum(codes), message: z.string().max(max).nullable() })
    : z.object({ template_code: z.enum(codes) });
  const instructions = [
    "You help an insurance renewal agent in India write a message to a customer.",
    `The message goes by ${channel === "sms" ? "SMS" : "WhatsApp"}, which in India may carry only`,
    "a registered template: choose the one of `templates` that best serves the `goal` for this case",
    "(the user message, JSON) and give its `template_code`.",
    slot
      ? `When the chosen template has a {{message}} slot, write \`message\`: one short line of at ` +
        `most ${max} characters in ${languageNames[baseLanguage(language)] ?? language} (the ` +
        "template's language) that adds what the template does not say; no names, numbers, " +
        "dates, amounts, links or {{placeholders}}; refer to the customer only as <customer>. " +
        "Otherwise `message` is null."
      : "",
  ].join(" ").trim();
  return {
    schema: schema as z.ZodType<TemplateChoice>,
    schemaName: "template_draft",
    instructions,
    facts: {
      ...caseFacts(ctx, intent, channel, language),
      templates: templates.map((t) => ({
        code: t.code,
        text: t.body,
        has_message_slot: hasMessageSlot(t.body),
      })),
    },
    validate: (value) => {
      const chosen = templates.find((t) => t.code === value.template_code);
      if (!chosen) return `no template ${value.template_code} among the choices`;
      if (!hasMessageSlot(chosen.body)) return null;
      const message = value.message?.trim() ?? "";
      if (message.length === 0) return "the template's {{message}} slot needs a message";
      if (message.length > max) return `the message is longer than ${max} characters`;
      return textProblem(message, new Set()) ?? scriptProblem(message, language);
    },
  };
}

/** The free-text question's answer (no subject outside email). */
export interface FreeText {
  subject?: string;
  body: string;
}

/**
 * The free-text question: the model writes the text in `language`, with {{placeholders}} for the
 * case's values (those in `fillable` only); the rules' template text is its example.
 */
export function freeTextQuestion(
  ctx: DraftContext,
  intent: DraftIntent,
  channel: DraftChannel,
  language: string,
  example: DraftTemplate | null,
): DraftQuestion<FreeText> {
  const fillable = new Set(Object.keys(ctx.values).filter((name) => name in placeholderMeanings));
  const name = languageNames[baseLanguage(language)] ?? language;
  const email = channel === "email";
  const schema = email
    ? z.object({ subject: z.string().min(1).max(150), body: z.string().min(1).max(2000) })
    : z.object({ body: z.string().min(1).max(1000) });
  const instructions = [
    "You help an insurance renewal agent in India write a message to a customer.",
    `Write ${email ? "an email (`subject` and `body`)" : "a WhatsApp message (`body`)"} in ${name}`,
    "that serves the `goal` for this case (the user message, JSON): short, polite and plain, from",
    "these facts only. Where a value belongs, write its placeholder exactly as listed in",
    "`placeholders` (e.g. {{policy_number}}); never write a name, number, date, amount or link",
    "yourself, and use no other placeholder. `example` is how our template says it.",
    intent === "payment_link" ? "The body must contain {{payment_link}}." : "",
  ].join(" ").trim();
  return {
    schema: schema as z.ZodType<FreeText>,
    schemaName: email ? "email_draft" : "whatsapp_draft",
    instructions,
    facts: {
      ...caseFacts(ctx, intent, channel, language),
      placeholders: Object.fromEntries([...fillable].map((p) => [p, placeholderMeanings[p]])),
      example: example
        ? {
          subject: email ? example.subject : null,
          text: example.body,
          language: example.language,
        }
        : null,
    },
    validate: (value) => {
      for (const text of [value.subject ?? "", value.body]) {
        const problem = textProblem(text, fillable);
        if (problem) return problem;
      }
      if (intent === "payment_link" && !placeholderNames(value.body).includes("payment_link")) {
        return "a payment-link draft without {{payment_link}}";
      }
      return scriptProblem(value.body, language);
    },
  };
}
