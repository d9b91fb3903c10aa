// POST /api/ai/drafts: a message draft for a case, in the customer's language and on a channel
// they can be reached on, that passes the template lint as it stands; the desk reviews it and
// sends it with POST /messages. The shapes and the route.
import { createRoute, z } from "@hono/zod-openapi";
import { ConsentPurpose, MessageChannel, TemplateCode } from "../../_shared/domain.ts";
import { commonProblems, json, jsonBody, problem, signedIn } from "../../_shared/schemas.ts";
import { LintSchema } from "../templates/routes.ts";
import { provenanceFields, rateLimitedProblem } from "./answer.ts";
import { draftLanguageCodes, draftLanguagePattern } from "./drafts_text.ts";

/**
 * What a draft is for. Each intent is worded by the templates of its codes (draftIntentCodes in
 * drafts_intents.ts): reminder (renewal_due before expiry, renewal_expired after), payment_link
 * (payment_link_reminder: the case's open payment link), grace_warning (life_grace_end,
 * health_continuity, renewal_expired: in the grace period), ncb_at_risk (motor with a no-claim
 * bonus, after expiry), quote_ready (case_quoted), thank_you (case_renewed: a renewed case).
 */
export const draftIntents = [
  "reminder",
  "payment_link",
  "grace_warning",
  "ncb_at_risk",
  "quote_ready",
  "thank_you",
] as const;

/** One of draftIntents. */
export type DraftIntent = typeof draftIntents[number];

/** The body of POST /ai/drafts. */
export const DraftRequestSchema = z.object({
  case_id: z.guid(),
  intent: z.enum(draftIntents).openapi({
    description: "What the message is for: reminder (renewal due, or expired), payment_link " +
      "(the case's open payment link), grace_warning (in the grace period), ncb_at_risk (motor " +
      "no-claim bonus after expiry), quote_ready, thank_you (a renewed case)",
  }),
  channel: MessageChannel.optional().openapi({
    description: "Default: the customer's preferred channel if they can be reached on it, " +
      "else the first of whatsapp, sms, email they can be reached on",
  }),
  language: z.string().regex(
    draftLanguagePattern,
    `a language drafts are written in: one of ${draftLanguageCodes.join(", ")}, ` +
      "optionally with -IN or _IN",
  ).optional().openapi({
    example: "hi",
    description: `One of ${draftLanguageCodes.join(", ")} (ISO 639-1), optionally with -IN or ` +
      "_IN. Default: the customer's language when it is one of those, else en. Templates are " +
      "looked for in it, then in English (as the gate does)",
  }),
}).strict().openapi("DraftRequest");

/** A draft, ready for POST /messages, with its lint and where its words came from. */
export const DraftSchema = z.object({
  case_id: z.guid(),
  customer_id: z.guid(),
  intent: z.enum(draftIntents),
  channel: MessageChannel,
  channel_reason: z.string().openapi({
    example: "preferred_channel",
    description: "Why this channel: requested, preferred_channel, or first_allowed with the " +
      "reasons the ones before it were refused (e.g. `first_allowed (whatsapp: " +
      "whatsapp_not_opted_in)`)",
  }),
  language: z.string().openapi({
    example: "hi",
    description: "The language of the text: the template's (the customer's, else en when no " +
      "template is in theirs), or the one the assistant wrote in",
  }),
  purpose: ConsentPurpose.openapi({
    description: "The consent it needs: the template's, or service for free text",
  }),
  template_code: TemplateCode.nullable().openapi({
    description: "Send it as this template with `variables` (and `language`); null: free text, " +
      "send `body` (and `subject`) with `purpose`",
  }),
  subject: z.string().nullable().openapi({ description: "Email only" }),
  body: z.string().openapi({ description: "The text as the customer would receive it" }),
  variables: z.record(z.string(), z.string()).openapi({
    description: "The template's {{variables}} as filled from the case; empty for free text",
  }),
  lint: LintSchema.openapi({
    description: "private.lint_draft over the filled text: the template's own lint, an SMS " +
      "matching its registered DLT text, nothing left unfilled; characters, segments and cost " +
      "of this text. A draft is answered only with no errors",
  }),
  ...provenanceFields,
}).openapi("Draft");

/** POST /ai/drafts. */
export const createDraft = createRoute({
  operationId: "createDraft",
  method: "post",
  path: "/ai/drafts",
  tags: ["AI"],
  summary: "Draft a message for a case in the customer's language, on a channel that reaches them",
  description: "Nothing is sent: the desk reviews the draft and sends it with POST /messages. " +
    "The channel is the one asked for, else the customer's preferred one, else the first they " +
    "can be reached on; consent, opt-in, DND, suppressions and the WhatsApp window are the " +
    "gate's own rules (a channel they cannot be reached on is a 422 naming why). An SMS is " +
    "always a registered DLT template (India's DLT scrubbing drops anything else) and WhatsApp " +
    "outside the 24-hour window an approved template: the assistant only chooses among the " +
    "matching templates and writes the free {{message}} slot when one has it. Email, and " +
    "WhatsApp inside the window, may be free text: the assistant writes it with placeholders " +
    "for the case's values, which are filled here; it never sees the customer's name or " +
    "contact details. Without the assistant (off, failed, over budget) the matching template " +
    "filled with the case's values is the draft (`source: rules`).",
  ...signedIn,
  request: { body: jsonBody(DraftRequestSchema) },
  responses: {
    200: json("The draft", DraftSchema),
    ...commonProblems,
    404: problem("No such case, or not yours to see"),
    422: problem(
      "The request did not match the schema; or the intent does not fit the case, or the " +
        "customer cannot be reached on the channel (`reason`, or `reasons` per channel)",
    ),
    ...rateLimitedProblem,
  },
});
