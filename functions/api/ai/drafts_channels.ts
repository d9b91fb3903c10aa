// Which channel a draft goes on and what it may say there. Per channel: the templates that word
// the intent in the draft's language (else English, as the gate picks them), whether free text
// may go (email; WhatsApp inside the customer's 24-hour window), and the question put to the
// gate's rules (private.draft_block_reasons). Then the channel: the one asked for, else the
// customer's preferred one, else the first that reaches them, with the reasons of those refused.
import type { DraftContext, DraftTemplate } from "./drafts_context.ts";
import { baseLanguage, hasMessageSlot, isDraftLanguage } from "./drafts_text.ts";

/** The channels a draft may be for: those the outbox sends on. */
export type DraftChannel = "sms" | "email" | "whatsapp";

/** The order channels are tried in when the customer has no usable preference. */
export const channelOrder: readonly DraftChannel[] = ["whatsapp", "sms", "email"];

/** One question to the gate's rules: could such a message go to the case's customer now? */
export interface GateQuestion {
  channel: DraftChannel;
  purpose: "transactional" | "service" | "marketing";
  /** The template it would be sent from; null for free text. */
  template_id: string | null;
}

/** What a draft may be on one channel. */
export interface ChannelPlan {
  channel: DraftChannel;
  /**
   * The templates the draft may be made from, best first: of the intent's codes, in the first of
   * the draft's languages that has any (WhatsApp: approved ones only; none when the window is
   * closed and none is approved).
   */
  templates: DraftTemplate[];
  /** Free text may go on this channel now (email; WhatsApp inside the window). */
  freeText: boolean;
  /**
   * What the rules answer with when the assistant does not: the first template without a
   * {{message}} slot, else the first (sent as a template, the slot left empty), or for WhatsApp inside the window without an approved one the email template's
   * text (sent as free text); null when there is nothing to fill.
   */
  rulesTemplate: DraftTemplate | null;
  /** Whether the rules' template goes as free text (its body filled), not as a template. */
  rulesAsFreeText: boolean;
  /** Asked of the gate's rules; null when there is nothing to send (`no_template`). */
  question: GateQuestion | null;
}

/**
 * The languages a template is looked for in, best first: the one asked for, else the customer's
 * when drafts may be written in it (isDraftLanguage; else English), in the templates' spelling
 * (`hi-IN` → `hi_IN`), its base (`hi`), then English.
 */
export function draftLanguages(requested: string | undefined, customerLanguage: string): string[] {
  const fallback = isDraftLanguage(customerLanguage) ? customerLanguage : "en";
  const wanted = (requested ?? fallback).replace("-", "_");
  return [...new Set([wanted, baseLanguage(wanted), "en"])];
}

/** The templates of `codes` on `channel` in the first of `languages` that has any, best first. */
function inFirstLanguage(
  templates: readonly DraftTemplate[],
  channel: DraftChannel,
  codes: readonly string[],
  languages: readonly string[],
  usable: (t: DraftTemplate) => boolean = () => true,
): DraftTemplate[] {
  for (const language of languages) {
    const found = templates
      .filter((t) =>
        t.channel === channel && t.language === language && codes.includes(t.code) && usable(t)
      )
      .sort((a, b) => codes.indexOf(a.code) - codes.indexOf(b.code));
    if (found.length > 0) return found;
  }
  return [];
}

/** The rules' template among `templates`: the first without a {{message}} slot, else the first. */
const forRules = (templates: DraftTemplate[]) =>
  templates.find((t) => !hasMessageSlot(t.body)) ?? templates[0] ?? null;

/** What a draft may be on `channel` for the intent's `codes`, in `languages`. */
export function planChannel(
  channel: DraftChannel,
  ctx: DraftContext,
  codes: readonly string[],
  languages: readonly string[],
): ChannelPlan {
  const approved = (t: DraftTemplate) => t.whatsapp_status === "approved";
  if (channel === "sms") {
    const templates = inFirstLanguage(ctx.templates, "sms", codes, languages);
    const first = templates[0] ?? null;
    return {
      channel,
      templates,
      freeText: false,
      rulesTemplate: forRules(templates),
      rulesAsFreeText: false,
      // Without a DLT template the gate's answer is sms_needs_dlt_template.
      question: { channel, purpose: first?.purpose ?? "service", template_id: first?.id ?? null },
    };
  }
  if (channel === "email") {
    const templates = inFirstLanguage(ctx.templates, "email", codes, languages);
    const first = templates[0] ?? null;
    return {
      channel,
      templates,
      freeText: true,
      rulesTemplate: first,
      rulesAsFreeText: false,
      question: first ? { channel, purpose: "service", template_id: null } : null,
    };
  }
  const templates = inFirstLanguage(ctx.templates, "whatsapp", codes, languages, approved);
  if (ctx.whatsapp_window_open) {
    const email = inFirstLanguage(ctx.templates, "email", codes, languages)[0] ?? null;
    const rulesTemplate = forRules(templates) ?? email;
    return {
      channel,
      templates,
      freeText: true,
      rulesTemplate,
      rulesAsFreeText: templates.length === 0,
      question: rulesTemplate ? { channel, purpose: "service", template_id: null } : null,
    };
  }
  // Outside the window only an approved template goes; asked with an unapproved one (the
  // answer is template_not_approved) or with none (whatsapp_window_closed) when there is none.
  const any = inFirstLanguage(ctx.templates, "whatsapp", codes, languages)[0] ?? null;
  const asked = templates[0] ?? any;
  return {
    channel,
    templates,
    freeText: false,
    rulesTemplate: forRules(templates),
    rulesAsFreeText: false,
    question: {
      channel,
      purpose: asked?.purpose ?? "service",
      template_id: asked?.id ?? null,
    },
  };
}

/** The channels to try, in order: the one asked for alone, else preferred first, then the rest. */
export function channelsToTry(
  requested: DraftChannel | undefined,
  preferred: string | null,
): DraftChannel[] {
  if (requested) return [requested];
  const first = channelOrder.find((channel) => channel === preferred);
  return first ? [first, ...channelOrder.filter((c) => c !== first)] : [...channelOrder];
}

/** The channel chosen, and why; or why none may be used. */
export type ChannelChoice =
  | { plan: ChannelPlan; reason: string }
  | { refused: Partial<Record<DraftChannel, string>> };

/**
 * The first plan whose message the gate would let go (`reasons`: the gate's answer per plan, in
 * the same order; null when it may go), with why it was chosen: `requested`,
 * `preferred_channel`, `first_allowed` or `first_allowed (<channel>: <reason>, ...)` naming those
 * refused before it; or every channel's refusal.
 */
export function chooseChannel(
  plans: readonly ChannelPlan[],
  reasons: readonly (string | null)[],
  requested: DraftChannel | undefined,
  preferred: string | null,
): ChannelChoice {
  const refused: Partial<Record<DraftChannel, string>> = {};
  for (const [i, plan] of plans.entries()) {
    const reason = plan.question === null ? "no_template" : reasons[i];
    if (reason) {
      refused[plan.channel] = reason;
      continue;
    }
    if (requested) return { plan, reason: "requested" };
    if (i === 0 && plan.channel === preferred) return { plan, reason: "preferred_channel" };
    const before = Object.entries(refused).map(([channel, why]) => `${channel}: ${why}`);
    return {
      plan,
      reason: before.length > 0 ? `first_allowed (${before.join(", ")})` : "first_allowed",
    };
  }
  return { refused };
}
