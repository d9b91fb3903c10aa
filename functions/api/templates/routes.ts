// /api/templates: what messages say, per channel and language. The desk reads them; admins
// write them, and every save passes the lint (private.lint_template) or is refused with its
// reasons; the lint can also be asked without saving.
import { createRoute, z } from "@hono/zod-openapi";
import {
  ConsentPurpose,
  DateTime,
  MessageChannel,
  orNull,
  PaiseDecimal,
  TemplateCode,
  WhatsappTemplateCategory,
} from "../../_shared/domain.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  ProblemSchema,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";
import { problemContentType } from "../../_shared/errors.ts";

/** What the lint found: errors refuse a save, warnings do not. */
export const LintSchema = z.object({
  errors: z.array(z.string()),
  warnings: z.array(z.string()),
  variables: z.array(z.string()).openapi({ description: "The {{variables}} it uses" }),
  encoding: z.enum(["GSM-7", "UCS-2"]).nullable().openapi({
    description: "SMS only: GSM-7, or UCS-2 when a character is outside GSM 03.38",
  }),
  characters: z.number().int().openapi({
    description: "Length with every variable at its longest expected value",
  }),
  segments: z.number().int().nullable().openapi({ description: "SMS only: segments billed" }),
  estimated_cost_paise: orNull(PaiseDecimal).openapi({
    description: "Estimated cost of one message (MESSAGE_RATES_PAISE)",
  }),
}).openapi("TemplateLint");

const whatsappStatuses = ["pending", "approved", "rejected", "paused"] as const;

/** The fields of a template an admin writes: exactly the columns granted to the desk. */
const templateFields = {
  code: TemplateCode,
  channel: MessageChannel,
  language: z.string().regex(/^[a-z]{2}(_[A-Z]{2})?$/, "an ISO 639-1 code such as en or hi")
    .openapi({ example: "hi" }),
  purpose: ConsentPurpose,
  subject: z.string().min(1).max(200).nullable().openapi({
    description: "Email only; may use {{variables}}",
  }),
  body: z.string().min(1).max(4096).openapi({
    example: "Dear {{customer_name}}, your policy {{policy_number}} is due -PYRNWL",
    description: "The text with {{variable}} placeholders, as registered (WhatsApp, DLT)",
  }),
  whatsapp_name: z.string().regex(/^[a-z0-9_]{1,512}$/).nullable(),
  whatsapp_category: orNull(WhatsappTemplateCategory),
  whatsapp_status: z.enum(whatsappStatuses).nullable(),
  whatsapp_parameter_count: z.number().int().min(0).max(100).nullable(),
  dlt_entity_id: z.string().regex(/^[0-9]{1,50}$/).nullable(),
  dlt_header: z.string().regex(/^[A-Za-z0-9]{3,11}$/).nullable(),
  dlt_template_id: z.string().regex(/^[0-9]{1,50}$/).nullable(),
  dlt_text: z.string().min(1).max(2000).nullable().openapi({
    description: "The registered DLT text, {#var#} in each variable's slot",
  }),
  active: z.boolean(),
};

/** Defaults of a new template: English, active, no vendor fields. */
const newTemplateFields = {
  ...templateFields,
  language: templateFields.language.default("en"),
  subject: templateFields.subject.default(null),
  whatsapp_name: templateFields.whatsapp_name.default(null),
  whatsapp_category: templateFields.whatsapp_category.default(null),
  whatsapp_status: templateFields.whatsapp_status.default(null),
  whatsapp_parameter_count: templateFields.whatsapp_parameter_count.default(null),
  dlt_entity_id: templateFields.dlt_entity_id.default(null),
  dlt_header: templateFields.dlt_header.default(null),
  dlt_template_id: templateFields.dlt_template_id.default(null),
  dlt_text: templateFields.dlt_text.default(null),
  active: templateFields.active.default(true),
};

/** A template to add (admins). */
export const NewTemplateSchema = z.object(newTemplateFields).strict().openapi("NewTemplate");

/** A template to lint without saving: a new template whose code may be left out. */
export const TemplateDraftSchema = z.object({
  ...newTemplateFields,
  code: TemplateCode.optional(),
}).strict().openapi("TemplateDraft");

/** A change to a template (admins): only the fields named. */
export const TemplateChangeSchema = z.object(templateFields).partial().strict()
  .refine((change) => Object.keys(change).length > 0, "name at least one field to change")
  .openapi("TemplateChange");

/** A template as stored, with its last lint. */
export const TemplateSchema = z.object({
  id: z.guid(),
  ...templateFields,
  lint: LintSchema,
  created_at: DateTime,
  updated_at: DateTime,
}).openapi("Template");

/** The 422 of a save the lint refuses: the reasons, listed. */
export const LintProblemSchema = ProblemSchema.extend({
  reasons: z.array(z.string()).optional().openapi({
    description: "Why the lint refused the template (PY009)",
  }),
}).openapi("LintProblem");

const lintRefusal = {
  description: "The request did not match the schema, or the lint refused the template " +
    "(code PY009, with its `reasons`)",
  content: { [problemContentType]: { schema: LintProblemSchema } },
};

/** The filters of GET /templates; strict: an unknown one is a 422 naming it. */
export const TemplateListQuery = z.strictObject({
  code: TemplateCode.optional(),
  channel: MessageChannel.optional(),
  language: templateFields.language.optional(),
  active: z.enum(["true", "false"]).optional().openapi({ description: "Only (in)active ones" }),
});

const IdParams = z.object({ id: uuidParam("id", "Template id") });

/** GET /templates. */
export const listTemplates = createRoute({
  operationId: "listTemplates",
  method: "get",
  path: "/templates",
  tags: ["Templates"],
  summary: "Templates by code, channel and language",
  ...signedIn,
  request: { query: TemplateListQuery },
  responses: {
    200: json("The templates", z.object({ data: z.array(TemplateSchema) })),
    ...commonProblems,
  },
});

/** GET /templates/{id}. */
export const getTemplate = createRoute({
  operationId: "getTemplate",
  method: "get",
  path: "/templates/{id}",
  tags: ["Templates"],
  summary: "One template with its last lint",
  ...signedIn,
  request: { params: IdParams },
  responses: {
    200: json("The template", TemplateSchema),
    ...commonProblems,
    404: problem("No such template, or not yours to see"),
  },
});

/** POST /templates. */
export const createTemplate = createRoute({
  operationId: "createTemplate",
  method: "post",
  path: "/templates",
  tags: ["Templates"],
  summary: "Add a template (admins); the lint must pass",
  ...signedIn,
  request: { body: jsonBody(NewTemplateSchema) },
  responses: {
    201: json("The new template", TemplateSchema),
    ...commonProblems,
    422: lintRefusal,
    403: problem("Only admins write templates"),
    409: problem("A template with this code, channel and language exists"),
  },
});

/** PUT /templates/{id}. */
export const updateTemplate = createRoute({
  operationId: "updateTemplate",
  method: "put",
  path: "/templates/{id}",
  tags: ["Templates"],
  summary: "Change a template (admins); the lint must pass",
  ...signedIn,
  request: { params: IdParams, body: jsonBody(TemplateChangeSchema) },
  responses: {
    200: json("The updated template", TemplateSchema),
    ...commonProblems,
    422: lintRefusal,
    403: problem("Only admins write templates"),
    404: problem("No such template"),
    409: problem("A template with this code, channel and language exists"),
  },
});

/** DELETE /templates/{id}. */
export const deleteTemplate = createRoute({
  operationId: "deleteTemplate",
  method: "delete",
  path: "/templates/{id}",
  tags: ["Templates"],
  summary: "Remove a template no message was sent from (admins)",
  description: "A template messages were rendered from stays, as their history: deactivate it " +
    "(`active: false`) instead.",
  ...signedIn,
  request: { params: IdParams },
  responses: {
    204: { description: "Removed" },
    ...commonProblems,
    403: problem("Only admins write templates"),
    404: problem("No such template"),
    409: problem("Messages were sent from it: deactivate it instead"),
  },
});

/** POST /templates/lint. */
export const lintTemplate = createRoute({
  operationId: "lintTemplate",
  method: "post",
  path: "/templates/lint",
  tags: ["Templates"],
  summary: "Lint a template without saving it",
  description: "What a save would find: errors (which would refuse it) and warnings, the " +
    "variables used, and for SMS the encoding (GSM-7 or UCS-2), segments and estimated cost, " +
    "with every variable at its longest expected value.",
  ...signedIn,
  request: { body: jsonBody(TemplateDraftSchema) },
  responses: {
    200: json("The lint", LintSchema),
    ...commonProblems,
  },
});
