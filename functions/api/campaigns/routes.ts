// /api/campaigns: managers' and admins' campaigns over the open renewal cases of a hierarchy
// subtree (A/B variants, follow-up flows, off-peak spreading), previewed, launched, paused,
// resumed, cancelled and reported through the private.*_campaign functions. Everything runs as
// the caller: RLS shows a manager the campaigns of their subtree and an admin all; agents and
// analysts get 403 on every route.
import { createRoute, z } from "@hono/zod-openapi";
import {
  campaignStatuses,
  campaignStepConditions,
  type caseStages,
  ConsentPurpose,
  DateTime,
  IsoDate,
  MessageChannel,
  orNull,
  Paise,
  PaiseDecimal,
  ProductLine,
  TemplateCode,
} from "../../_shared/domain.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

/** public.campaign_status: draft, scheduled, running, paused, completed, cancelled. */
export const CampaignStatus = z.enum(campaignStatuses).openapi("CampaignStatus", {
  description: "draft: being edited; scheduled: launched before its start_at, launched when it " +
    "starts; running: its messages and flow go on; paused: its queued messages are held; " +
    "completed: its flow is over; cancelled: stopped, what was queued cancelled.",
});

/** public.campaign_step_condition: who gets a flow step, judged on the previous message. */
export const CampaignStepCondition = z.enum(campaignStepConditions).openapi(
  "CampaignStepCondition",
  {
    description: "always: everyone still in the flow; not_read: those who had not read the " +
      "previous message; not_delivered: those it neither reached nor was read by",
  },
);

/** The open stages an audience may be narrowed to (private.campaign_audience accepts these). */
const openStages = [
  "new",
  "contacted",
  "quoted",
  "payment_pending",
  "pending_lapse",
] as const satisfies readonly (typeof caseStages)[number][];

/** One value or a non-empty list of them: the audience filter's `key: value | [values]`. */
const oneOrMany = <T extends z.ZodType>(schema: T) =>
  z.union([schema, z.array(schema).min(1).max(100)]);

/**
 * Who a campaign reaches, always inside its scope node's subtree: only the whitelisted keys that
 * private.campaign_audience accepts (an unknown key is a 422). Values are compared as values in
 * the database, never spliced into SQL. Dates are the cases' due dates (IST days), inclusive;
 * premiums in paise.
 */
export const AudienceFilterSchema = z.strictObject({
  product_line: oneOrMany(ProductLine).optional(),
  stage: oneOrMany(z.enum(openStages)).optional().openapi({
    description: "Open stages only: new, contacted, quoted, payment_pending, pending_lapse",
  }),
  city: oneOrMany(z.string().trim().min(1).max(100)).optional().openapi({
    description: "The customer's city, compared case-insensitively",
  }),
  language: oneOrMany(z.string().regex(/^[a-z]{2}(-[A-Z]{2})?$/)).optional().openapi({
    description: "The customer's language (en, hi, ...)",
  }),
  preferred_channel: oneOrMany(MessageChannel).optional(),
  expiry_from: IsoDate.optional().openapi({ description: "Due date on or after (IST day)" }),
  expiry_to: IsoDate.optional().openapi({ description: "Due date on or before (IST day)" }),
  premium_min: Paise.optional().openapi({ description: "Policy premium at least, in paise" }),
  premium_max: Paise.optional().openapi({ description: "Policy premium at most, in paise" }),
}).refine(
  (f) => f.expiry_from === undefined || f.expiry_to === undefined || f.expiry_from <= f.expiry_to,
  { message: "expiry_from must not be after expiry_to", path: ["expiry_to"] },
).refine(
  (f) =>
    f.premium_min === undefined || f.premium_max === undefined || f.premium_min <= f.premium_max,
  { message: "premium_min must not exceed premium_max", path: ["premium_max"] },
).openapi("CampaignAudienceFilter", {
  description: "Only these keys; empty: every open case of the scope subtree",
});

/** `HH:MM`, 00:00-23:59: a time of day in IST. */
const TimeOfDay = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/).openapi({
  example: "10:00",
});

/** Off-peak spreading as the API shows it. */
const SpreadSchema = z.object({
  rate_per_hour: z.number().int().openapi({ description: "First-step sends per hour at most" }),
  window_start: orNull(TimeOfDay).openapi({ description: "Daily window start (IST)" }),
  window_end: orNull(TimeOfDay).openapi({ description: "Daily window end (IST), exclusive" }),
});

/** An A/B variant: a template and its share of the audience. */
export const CampaignVariantSchema = z.object({
  id: z.guid(),
  code: z.string().openapi({ example: "A", description: "The first by code is the control" }),
  template_code: z.string(),
  weight: z.number().int().openapi({ description: "Share of the audience, percent" }),
}).openapi("CampaignVariant");

/** A follow-up step of the flow (the campaign's own message is step 1). */
export const CampaignStepSchema = z.object({
  id: z.guid(),
  position: z.number().int().openapi({ description: "2, 3, ...: order in the flow" }),
  channel: MessageChannel,
  template_code: z.string(),
  wait_hours: z.number().openapi({
    description: "Hours after the previous step's planned send",
  }),
  condition: CampaignStepCondition,
});

/** What every campaign answer carries. */
const campaignFields = {
  id: z.guid(),
  name: z.string(),
  scope_node_id: z.guid().openapi({
    description: "The hierarchy node whose subtree the audience is drawn from",
  }),
  created_by: orNull(z.guid()).openapi({ description: "Who created it (a user id)" }),
  channel: MessageChannel,
  purpose: ConsentPurpose,
  template_code: orNull(z.string()).openapi({ description: "Null when it has variants" }),
  audience_filter: z.record(z.string(), z.unknown()).openapi({
    description: "As given at creation (CampaignAudienceFilter)",
  }),
  start_at: orNull(DateTime).openapi({ description: "Earliest first send; launch time if null" }),
  spread: orNull(SpreadSchema).openapi({ description: "Off-peak spreading; null: all at once" }),
  status: CampaignStatus,
  launched_at: orNull(DateTime),
  paused_at: orNull(DateTime),
  cancelled_at: orNull(DateTime),
  cancelled_reason: orNull(z.string()).openapi({
    description: "Why it was cancelled when nobody cancelled it by hand: a scheduled campaign " +
      "whose creator may no longer run it (inactive, no longer a manager, or its scope no longer " +
      "in their subtree) is cancelled at its start, nothing sent. Null otherwise",
  }),
  completed_at: orNull(DateTime),
  created_at: DateTime,
  updated_at: DateTime,
};

/** A campaign in a list, with how many variants and flow steps it has. */
export const CampaignSummarySchema = z.object({
  ...campaignFields,
  variant_count: z.number().int(),
  step_count: z.number().int().openapi({ description: "Follow-up steps (after the first)" }),
}).openapi("CampaignSummary");

/** A campaign with its variants and flow steps. */
export const CampaignSchema = z.object({
  ...campaignFields,
  variants: z.array(CampaignVariantSchema).openapi({ description: "By code; empty: none" }),
  steps: z.array(CampaignStepSchema).openapi({ description: "In flow order" }),
}).openapi("Campaign");

const who = "Managers (campaigns of their subtree) and admins (all); agents and analysts get 403.";
const idParams = z.object({ id: uuidParam("id", "Campaign id") });
const forbidden = problem("Agents and analysts do not run campaigns");
const notVisible = problem("No such campaign, or not in your subtree");

/** GET /campaigns. */
export const listCampaigns = createRoute({
  operationId: "listCampaigns",
  method: "get",
  path: "/campaigns",
  tags: ["Campaigns"],
  summary: "The campaigns I may run, newest first",
  description: who,
  ...signedIn,
  request: {
    query: z.object({
      status: CampaignStatus.optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
    }),
  },
  responses: {
    200: json("Campaigns", z.object({ data: z.array(CampaignSummarySchema) })),
    ...commonProblems,
    403: forbidden,
  },
});

/** A variant as created: its template and percent of the audience. */
const VariantInput = z.strictObject({
  code: z.string().regex(/^[A-Za-z0-9_-]{1,20}$/).openapi({ example: "A" }),
  template_code: TemplateCode,
  weight: z.number().int().min(1).max(100),
});

/** A flow step as created; positions 2, 3, ... follow the array's order. */
const StepInput = z.strictObject({
  channel: MessageChannel,
  template_code: TemplateCode,
  wait_hours: z.number().int().min(0).max(2160).openapi({
    description: "Hours after the previous step's planned send, at most 90 days",
  }),
  condition: CampaignStepCondition.default("always"),
});

/** The body of POST /campaigns. */
export const CampaignCreateSchema = z.strictObject({
  name: z.string().trim().min(1).max(200),
  scope_node_id: z.guid().optional().openapi({
    description: "Default: the caller's own hierarchy node (an admin without one must name it)",
  }),
  channel: MessageChannel,
  purpose: z.enum(["service", "marketing"]),
  template_code: TemplateCode.optional().openapi({
    description: "The first step's template; or variants, not both",
  }),
  variants: z.array(VariantInput).min(2).max(10).optional().openapi({
    description: "A/B split: 2+ variants, unique codes, weights summing to 100",
  }),
  steps: z.array(StepInput).max(19).optional().openapi({
    description: "Follow-up steps in order (positions 2, 3, ...)",
  }),
  audience_filter: AudienceFilterSchema.optional(),
  start_at: z.iso.datetime({ offset: true }).optional().openapi({
    description: "Earliest first send, with its offset; default: at launch",
  }),
  spread: z.strictObject({
    rate_per_hour: z.number().int().min(1).max(1_000_000),
    window_start: TimeOfDay.optional(),
    window_end: TimeOfDay.optional(),
  }).refine((s) => (s.window_start === undefined) === (s.window_end === undefined), {
    message: "window_start and window_end go together",
  }).refine(
    (s) =>
      s.window_start === undefined || s.window_end === undefined || s.window_start < s.window_end,
    { message: "window_start must be before window_end", path: ["window_end"] },
  ).optional().openapi({
    description: "Off-peak spreading: a rate, optionally in a daily window (IST). The window is " +
      "clipped to the hours the purpose may be sent (PROMOTIONAL_HOURS for marketing, outside " +
      "QUIET_HOURS for service); one that does not meet them is refused (422). Without a window, " +
      "sends spread within those hours",
  }),
}).superRefine((body, ctx) => {
  if ((body.template_code === undefined) === (body.variants === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["template_code"],
      message: "give exactly one of template_code or variants",
    });
  }
  if (body.variants) {
    const sum = body.variants.reduce((total, v) => total + v.weight, 0);
    if (sum !== 100) {
      ctx.addIssue({
        code: "custom",
        path: ["variants"],
        message: `variant weights must sum to 100 (they sum to ${sum})`,
      });
    }
    if (new Set(body.variants.map((v) => v.code)).size !== body.variants.length) {
      ctx.addIssue({ code: "custom", path: ["variants"], message: "variant codes must be unique" });
    }
  }
}).openapi("CampaignCreate");

/** POST /campaigns. */
export const createCampaign = createRoute({
  operationId: "createCampaign",
  method: "post",
  path: "/campaigns",
  tags: ["Campaigns"],
  summary: "Create a draft campaign with its variants and flow steps",
  description: `${who} The campaign, its variants and steps are created in one transaction. ` +
    "A scope node outside the manager's subtree (or that does not exist) is 403; a template " +
    "code with no active template on that channel, a template using a variable no campaign " +
    "message carries (every step carries customer_name, policy_number, case_number, " +
    "product_line, expiry_date, due_date, premium, amount_due, grace_end, ncb_percent, " +
    "ncb_deadline and payment_link, computed when the step is queued; a marketing template also " +
    "withdrawal_link), or a filter key the audience does not know, is 422. Nothing is sent " +
    "until it is launched.",
  ...signedIn,
  request: { body: jsonBody(CampaignCreateSchema) },
  responses: {
    201: json("The draft campaign", CampaignSchema),
    ...commonProblems,
    403: problem("Agents and analysts do not run campaigns; or the scope is outside your subtree"),
    422: problem(
      "The request did not match the schema, or names a template that does not exist or that " +
        "uses a variable no campaign message carries",
    ),
  },
});

/** GET /campaigns/{id}. */
export const getCampaign = createRoute({
  operationId: "getCampaign",
  method: "get",
  path: "/campaigns/{id}",
  tags: ["Campaigns"],
  summary: "A campaign with its variants and flow steps",
  description: who,
  ...signedIn,
  request: { params: idParams },
  responses: {
    200: json("The campaign", CampaignSchema),
    ...commonProblems,
    403: forbidden,
    404: notVisible,
  },
});

/** What a launch gives, or would give (private.campaign_counts). */
export const CampaignCountsSchema = z.object({
  audience: z.number().int().openapi({ description: "Customers reached (one case each)" }),
  queued: z.number().int().openapi({ description: "Messages queued, deferred ones included" }),
  deferred: z.number().int().openapi({
    description: "Of the queued, those not before a later time (spreading, hours, start_at)",
  }),
  blocked: z.number().int().openapi({ description: "Refused by the gate" }),
  blocked_reasons: z.record(z.string(), z.number().int()).openapi({
    description: "Blocked per reason (no_address, whatsapp_not_opted_in, ...)",
    example: { no_address: 2 },
  }),
  estimated_cost_paise: PaiseDecimal.openapi({ description: "Of the queued messages" }),
  created: z.number().int().openapi({
    description: "Messages this call created: 0 for a preview, or a launch before start_at",
  }),
});

/** GET /campaigns/{id}/preview. */
export const previewCampaign = createRoute({
  operationId: "previewCampaign",
  method: "get",
  path: "/campaigns/{id}/preview",
  tags: ["Campaigns"],
  summary: "What launching now would do, without doing it",
  description: `${who} The launch itself, run and rolled back, so the numbers are the ` +
    "launch's. Only a draft or a scheduled campaign has a preview (409 otherwise: it cannot " +
    "launch). 422 when the filter or the variants are invalid, or when a step's template (every " +
    "step is judged) uses a variable no campaign message carries.",
  ...signedIn,
  request: { params: idParams },
  responses: {
    200: json("The counts", CampaignCountsSchema.openapi("CampaignPreview")),
    ...commonProblems,
    403: forbidden,
    404: notVisible,
    409: problem(
      "The campaign is not a draft or scheduled: running, paused, completed or cancelled",
    ),
    422: problem("The request did not match the schema, or the campaign cannot be launched"),
  },
});

/** POST /campaigns/{id}/launch. */
export const launchCampaign = createRoute({
  operationId: "launchCampaign",
  method: "post",
  path: "/campaigns/{id}/launch",
  tags: ["Campaigns"],
  summary: "Launch a campaign: its audience through the gate in one insert",
  description: `${who} A campaign launches once: only a draft or a scheduled campaign ` +
    "launches, a second launch is 409 and creates nothing. The counts are the function's; " +
    "status is the campaign's after it: running, or scheduled when its start_at is still ahead " +
    "(then the counts are those of a launch at start_at, nothing is created, and a job launches " +
    "it when it starts; launching it again before then checks it again).",
  ...signedIn,
  request: { params: idParams },
  responses: {
    200: json(
      "The counts and the campaign's status",
      CampaignCountsSchema.extend({ status: CampaignStatus }).openapi("CampaignLaunch"),
    ),
    ...commonProblems,
    403: forbidden,
    404: notVisible,
    409: problem("The campaign was launched already: running, paused, completed or cancelled"),
    422: problem("The request did not match the schema, or the campaign cannot be launched"),
  },
});

/** POST /campaigns/{id}/pause. */
export const pauseCampaign = createRoute({
  operationId: "pauseCampaign",
  method: "post",
  path: "/campaigns/{id}/pause",
  tags: ["Campaigns"],
  summary: "Pause a running campaign: its queued messages are held",
  description: `${who} Only a running campaign pauses (409 otherwise).`,
  ...signedIn,
  request: { params: idParams },
  responses: {
    200: json(
      "Paused",
      z.object({
        status: CampaignStatus,
        messages_held: z.number().int().openapi({ description: "Queued messages now held" }),
      }).openapi("CampaignPaused"),
    ),
    ...commonProblems,
    403: forbidden,
    404: notVisible,
    409: problem("The campaign is not running"),
  },
});

/** POST /campaigns/{id}/resume. */
export const resumeCampaign = createRoute({
  operationId: "resumeCampaign",
  method: "post",
  path: "/campaigns/{id}/resume",
  tags: ["Campaigns"],
  summary: "Resume a paused campaign: its held messages go again, in spread order",
  description: `${who} Only a paused campaign resumes (409 otherwise). A spread campaign's ` +
    "first sends are laid out again from the resume, at its rate within its window.",
  ...signedIn,
  request: { params: idParams },
  responses: {
    200: json(
      "Resumed",
      z.object({
        status: CampaignStatus,
        messages_resumed: z.number().int().openapi({
          description: "Held messages queued again (the same rows: nothing sent twice)",
        }),
      }).openapi("CampaignResumed"),
    ),
    ...commonProblems,
    403: forbidden,
    404: notVisible,
    409: problem("The campaign is not paused"),
  },
});

/** POST /campaigns/{id}/cancel. */
export const cancelCampaign = createRoute({
  operationId: "cancelCampaign",
  method: "post",
  path: "/campaigns/{id}/cancel",
  tags: ["Campaigns"],
  summary: "Cancel a campaign: what is still queued is cancelled, the flow stops",
  description: `${who} A cancelled or completed campaign is 409.`,
  ...signedIn,
  request: { params: idParams },
  responses: {
    200: json(
      "Cancelled",
      z.object({
        status: CampaignStatus,
        messages_cancelled: z.number().int().openapi({
          description: "Queued messages cancelled",
        }),
      }).openapi("CampaignCancelled"),
    ),
    ...commonProblems,
    403: forbidden,
    404: notVisible,
    409: problem("The campaign is already cancelled or completed"),
  },
});

/** One row of private.campaign_stats: a variant ('-' without variants). */
export const CampaignStatsRowSchema = z.object({
  variant: z.string().openapi({ description: "Variant code; '-' when there are none" }),
  recipients: z.number().int().openapi({ description: "0 for a variant nobody drew" }),
  queued: z.number().int().openapi({ description: "Queued, sending or held" }),
  sent: z.number().int(),
  delivered: z.number().int(),
  read: z.number().int(),
  failed: z.number().int().openapi({ description: "failed, undeliverable or dead" }),
  blocked: z.number().int().openapi({ description: "Refused by the gate" }),
  cancelled: z.number().int(),
  cost_paise: PaiseDecimal.openapi({
    description: "Of what was sent: the vendor's cost, else the estimate",
  }),
  converted: z.number().int().openapi({
    description: "Case renewed within CAMPAIGN_CONVERSION_DAYS after the first send",
  }),
  paid: z.number().int().openapi({
    description:
      "A payment captured on the case within CAMPAIGN_CONVERSION_DAYS after the first send",
  }),
  delivery_rate: orNull(z.number()).openapi({
    description: "Reached (delivered or read) / went to the vendor, 4 decimals",
  }),
  delivery_difference: orNull(z.number()).openapi({ description: "Minus the control's rate" }),
  delivery_significant: orNull(z.boolean()).openapi({
    description: "Two-proportion z-test at 95 %; null for the control or when a side is empty",
  }),
  read_rate: orNull(z.number()).openapi({ description: "read / reached, 4 decimals" }),
  read_difference: orNull(z.number()),
  read_significant: orNull(z.boolean()),
  payment_rate: orNull(z.number()).openapi({ description: "paid / recipients" }),
  payment_difference: orNull(z.number()),
  payment_significant: orNull(z.boolean()),
  conversion_rate: orNull(z.number()).openapi({ description: "converted / recipients" }),
  conversion_difference: orNull(z.number()),
  conversion_significant: orNull(z.boolean()),
}).openapi("CampaignStatsRow", {
  description: "The status columns (queued ... cancelled) add up to recipients. The control is " +
    "the first variant by code",
});

/** GET /campaigns/{id}/stats. */
export const getCampaignStats = createRoute({
  operationId: "getCampaignStats",
  method: "get",
  path: "/campaigns/{id}/stats",
  tags: ["Campaigns"],
  summary: "Per variant: where each recipient's message stands, cost, conversions, A/B tests",
  description: `${who} One row per variant, also a variant nobody drew. Rates are numbers ` +
    "(fractions, 4 decimals); money is exact decimal paise. Empty before the launch.",
  ...signedIn,
  request: { params: idParams },
  responses: {
    200: json("Stats per variant", z.object({ data: z.array(CampaignStatsRowSchema) })),
    ...commonProblems,
    403: forbidden,
    404: notVisible,
  },
});
