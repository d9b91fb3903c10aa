// POST /ai/drafts: a message draft for a case. As the caller (RLS: a case they may not see is a
// 404): the case, the intent's templates and the gate's answer per channel
// (private.draft_block_reasons), in one transaction; the channel; then the assistant's draft
// (drafts_model.ts) or, whatever it does, the rules' (the matching template filled with the
// case's values); last the lint of what is answered (private.lint_draft). Nothing is sent and
// nothing is written but the ai_requests row of the assistant's question.
import type { RouteHandler } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import { askStructured } from "../../_shared/ai/assistant.ts";
import { personalise } from "../../_shared/ai/redact.ts";
import type { AppEnv } from "../../_shared/app.ts";
import { asCaller, type Claims, type Tx } from "../../_shared/db.ts";
import { ProblemError } from "../../_shared/errors.ts";
import type { LintSchema } from "../templates/routes.ts";
import { type Provenance, provenanceOf, refuseWhenRateLimited, rulesProvenance } from "./answer.ts";
import {
  type ChannelPlan,
  channelsToTry,
  chooseChannel,
  type DraftChannel,
  draftLanguages,
  planChannel,
} from "./drafts_channels.ts";
import { type DraftContext, type DraftTemplate, readDraftContext } from "./drafts_context.ts";
import { draftIntentCodes, intentFit } from "./drafts_intents.ts";
import { type DraftQuestion, freeTextQuestion, templateQuestion } from "./drafts_model.ts";
import type { createDraft, DraftIntent, DraftSchema } from "./drafts_routes.ts";
import { baseLanguage, fillPlaceholders, hasMessageSlot, variablesOf } from "./drafts_text.ts";

type Draft = z.infer<typeof DraftSchema>;
type Lint = z.infer<typeof LintSchema>;

/** A draft before its lint: what POST /messages would send. */
interface Composed {
  language: string;
  purpose: "transactional" | "service" | "marketing";
  template: DraftTemplate | null;
  subject: string | null;
  body: string;
  variables: Record<string, string>;
}

/** The template filled with the case's values (and `extra`, e.g. the model's {{message}}). */
function fromTemplate(
  t: DraftTemplate,
  values: Record<string, string>,
  extra: Record<string, string> = {},
): Composed {
  const all = { ...values, ...extra };
  return {
    language: t.language,
    purpose: t.purpose,
    template: t,
    subject: t.subject === null ? null : fillPlaceholders(t.subject, all),
    body: fillPlaceholders(t.body, all),
    variables: variablesOf(`${t.subject ?? ""} ${t.body}`, all),
  };
}

/**
 * The rules' draft on the plan's channel: its template filled (or its text, as free text); a
 * {{message}} slot, when the template has one, left empty (the rules have no words of their own).
 */
function rulesDraft(plan: ChannelPlan, ctx: DraftContext): Composed {
  const t = plan.rulesTemplate!;
  const filled = fromTemplate(t, ctx.values, hasMessageSlot(t.body) ? { message: "" } : {});
  if (!plan.rulesAsFreeText) return filled;
  return { ...filled, purpose: "service", template: null, subject: null, variables: {} };
}

/** The question for the assistant on this plan, or null when there is nothing to ask. */
function questionFor(
  plan: ChannelPlan,
  ctx: DraftContext,
  intent: DraftIntent,
  language: string,
): DraftQuestion<unknown> | null {
  if (plan.freeText) {
    return freeTextQuestion(
      ctx,
      intent,
      plan.channel,
      language,
      plan.rulesTemplate,
    ) as DraftQuestion<unknown>;
  }
  return templateQuestion(ctx, intent, plan.channel, plan.templates) as
    | DraftQuestion<unknown>
    | null;
}

/** The assistant's answer made a draft: filled, `<customer>` as the customer's first name. */
function modelDraft(
  plan: ChannelPlan,
  ctx: DraftContext,
  language: string,
  value: unknown,
): Composed {
  const known = { customer: ctx.customer_name, agent: ctx.agent_name };
  if (plan.freeText) {
    const text = value as { subject?: string; body: string };
    const fill = (s: string) => personalise(fillPlaceholders(s, ctx.values), known);
    return {
      language,
      purpose: "service",
      template: null,
      subject: plan.channel === "email" ? fill(text.subject ?? "") : null,
      body: fill(text.body),
      variables: {},
    };
  }
  const choice = value as { template_code: string; message?: string | null };
  const t = plan.templates.find((one) => one.code === choice.template_code)!;
  const message = choice.message?.trim();
  return fromTemplate(t, ctx.values, message ? { message: personalise(message, known) } : {});
}

/** private.lint_draft of each draft, in one statement. */
async function lintDrafts(tx: Tx, channel: DraftChannel, drafts: Composed[]): Promise<Lint[]> {
  const rows = await tx<{ lint: Lint }[]>`
    select l.lint || jsonb_build_object('estimated_cost_paise', pg_catalog.trim_scale(
             (l.lint ->> 'estimated_cost_paise')::numeric)::text) as lint
      from jsonb_to_recordset(${
    tx.json(drafts.map((d, n) => ({
      n,
      language: d.language,
      purpose: d.purpose,
      template_id: d.template?.id ?? null,
      subject: d.subject,
      body: d.body,
    })))
  }::jsonb) as d (n integer, language text, purpose text, template_id uuid, subject text,
                  body text)
     cross join lateral (
       select private.lint_draft(${channel}::public.channel_type, d.language,
                                 d.purpose::public.consent_purpose, d.template_id, d.subject,
                                 d.body) as lint) l
     order by d.n`;
  return rows.map((row) => row.lint);
}

/** What the first transaction finds: the case, the intent's fit, the channel and its reasons. */
interface Prepared {
  ctx: DraftContext;
  plan: ChannelPlan;
  channelReason: string;
  language: string;
}

/**
 * The case as the caller sees it (404 otherwise), the intent's templates for it (422 when the
 * intent does not fit), and the channel the gate's rules allow (422 with the reason(s) when none).
 */
async function prepare(
  claims: Claims,
  request: { case_id: string; intent: DraftIntent; channel?: DraftChannel; language?: string },
): Promise<Prepared> {
  return await asCaller(claims, async (tx) => {
    const ctx = await readDraftContext(tx, request.case_id, draftIntentCodes[request.intent]);
    const fit = intentFit(request.intent, ctx);
    if ("refusal" in fit) {
      throw new ProblemError(422, "Intent Does Not Fit The Case", fit.refusal);
    }
    const languages = draftLanguages(request.language, ctx.customer_language);
    const plans = channelsToTry(request.channel, ctx.preferred_channel)
      .map((channel) => planChannel(channel, ctx, fit.codes, languages));
    const asked = plans.filter((plan) => plan.question !== null);
    const answers = asked.length === 0 ? [] : await tx<{ n: number; reason: string | null }[]>`
      select n::integer, reason
        from private.draft_block_reasons(${request.case_id},
                                         ${
      tx.json(asked.map((plan) => ({ ...plan.question! })))
    }::jsonb)`;
    const reasons = plans.map((plan) => {
      const at = asked.indexOf(plan);
      return at < 0 ? null : answers.find((a) => a.n === at + 1)?.reason ?? null;
    });
    const choice = chooseChannel(plans, reasons, request.channel, ctx.preferred_channel);
    if ("refused" in choice) {
      const entries = Object.entries(choice.refused);
      if (request.channel) {
        const reason = choice.refused[request.channel]!;
        throw new ProblemError(
          422,
          "Channel Not Reachable",
          `The customer cannot be reached on ${request.channel} now: ${reason}.`,
          { reason },
        );
      }
      throw new ProblemError(
        422,
        "Channel Not Reachable",
        `The customer cannot be reached on any channel now: ${
          entries.map(([channel, why]) => `${channel}: ${why}`).join(", ")
        }.`,
        { reasons: choice.refused },
      );
    }
    return {
      ctx,
      plan: choice.plan,
      channelReason: choice.reason,
      language: baseLanguage(languages[0]),
    };
  });
}

/** POST /ai/drafts. */
export const draft: RouteHandler<typeof createDraft, AppEnv> = async (c) => {
  const request = c.req.valid("json");
  const claims = c.get("claims");
  const { ctx, plan, channelReason, language } = await prepare(claims, request);

  const rules = rulesDraft(plan, ctx);
  let provenance: Provenance = rulesProvenance();
  let proposed: Composed | null = null;
  const question = questionFor(plan, ctx, request.intent, language);
  if (question) {
    const answer = await askStructured({
      purpose: "draft",
      claims,
      caseId: ctx.case_id,
      customerId: ctx.customer_id,
      ...question,
      known: { customer: ctx.customer_name, agent: ctx.agent_name },
    });
    refuseWhenRateLimited(answer);
    if (answer.source !== "rules") proposed = modelDraft(plan, ctx, language, answer.value);
    provenance = provenanceOf(answer);
  }

  const candidates = proposed ? [proposed, rules] : [rules];
  const lints = await asCaller(claims, (tx) => lintDrafts(tx, plan.channel, candidates));
  let chosen = candidates[0];
  let lint = lints[0];
  if (proposed && lint.errors.length > 0) {
    // The assistant's text passed its checks but not the lint: the rules' draft instead.
    chosen = rules;
    lint = lints[1];
    provenance = rulesProvenance("invalid", provenance.ai_request_id ?? undefined);
  }
  if (lint.errors.length > 0) {
    throw new ProblemError(
      422,
      "Draft Lint Failed",
      "The template filled with this case's values does not pass its lint.",
      { reasons: lint.errors },
    );
  }
  const answer: Draft = {
    case_id: ctx.case_id,
    customer_id: ctx.customer_id,
    intent: request.intent,
    channel: plan.channel,
    channel_reason: channelReason,
    language: chosen.language,
    purpose: chosen.purpose,
    template_code: chosen.template?.code ?? null,
    subject: chosen.subject,
    body: chosen.body,
    variables: chosen.variables,
    lint,
    ...provenance,
  };
  return c.json(answer, 200);
};
