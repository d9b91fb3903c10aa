// /api/messages: an agent's one-off message to a customer through the gate, the messages of a
// case or a customer, and the admins' redrive of dead letters.
import { createRoute, z } from "@hono/zod-openapi";
import {
  ConsentPurpose,
  DateTime,
  MessageStatus,
  orNull,
  OutboxChannel,
  PaiseDecimal,
  PersonRef,
  TemplateCode,
  VendorCode,
} from "../../_shared/domain.ts";
import { commonProblems, json, jsonBody, problem, signedIn } from "../../_shared/schemas.ts";
import { CursorParam } from "./cursor.ts";

/**
 * An agent's one-off message: a template with its variables, or free text with its purpose (and
 * a subject for email). The gate decides whether and when it goes.
 */
export const NewMessageSchema = z.object({
  customer_id: z.guid(),
  case_id: z.guid().optional().openapi({ description: "The case it is about; must be theirs" }),
  channel: OutboxChannel,
  template_code: TemplateCode.optional().openapi({
    description: "An active template on the channel; its purpose and subject come with it",
  }),
  variables: z.record(
    z.string().regex(/^[a-z][a-z0-9_]{0,60}$/),
    z.string().max(1000),
  ).refine((variables) => Object.keys(variables).length <= 50, {
    message: "at most 50 variables",
  }).optional().openapi({
    example: { customer_name: "Meera Sharma", policy_number: "MOT/2025/000123" },
    description: "The template's {{variables}}, as text (at most 50)",
  }),
  language: z.string().regex(/^[a-z]{2}(_[A-Z]{2})?$/).optional().openapi({
    description: "The template's language; default the customer's, else en",
  }),
  body: z.string().trim().min(1).max(4096).optional().openapi({
    description: "Free text, instead of a template (not for SMS: India's DLT drops it; " +
      "WhatsApp only inside the 24-hour window)",
  }),
  purpose: ConsentPurpose.optional().openapi({ description: "With body: the consent it needs" }),
  subject: z.string().trim().min(1).max(200).optional().openapi({
    description: "With body on email: the subject",
  }),
}).strict().superRefine((message, context) => {
  const issue = (path: string, text: string) =>
    context.addIssue({ code: "custom", path: [path], message: text });
  if ((message.template_code === undefined) === (message.body === undefined)) {
    issue("template_code", "name a template_code or write a body, not both");
  }
  if (message.template_code !== undefined) {
    if (message.purpose !== undefined) issue("purpose", "a template carries its own purpose");
    if (message.subject !== undefined) issue("subject", "a template carries its own subject");
  }
  if (message.body !== undefined) {
    if (message.purpose === undefined) issue("purpose", "free text needs its purpose");
    if (message.variables !== undefined) issue("variables", "variables fill templates only");
    if (message.language !== undefined) issue("language", "language chooses a template");
    if (message.channel === "email" && message.subject === undefined) {
      issue("subject", "an email needs a subject");
    }
  }
  if (message.channel !== "email" && message.subject !== undefined) {
    issue("subject", "only email has a subject");
  }
}).openapi("NewMessage");

/** The Idempotency-Key header of POST /messages. */
export const IdempotencyHeaders = z.object({
  "idempotency-key": z.string().min(1).max(200).openapi({
    param: { name: "idempotency-key", in: "header" },
    example: "0b6a1f3e-5b7e-4c52-9f3e-2a8d1f9c7e10",
    description: "Your key for this message (1-200 characters): sending again with the same " +
      "key answers the first message (200) instead of sending twice. Keys are yours alone.",
  }),
});

/** What the gate made of a message: queued, deferred until when, or blocked and why. */
export const SendResultSchema = z.object({
  message_id: z.guid(),
  status: MessageStatus,
  blocked_reason: z.string().nullable().openapi({
    example: "consent_withdrawn",
    description: "Why the gate refused it (status blocked): customer_erased, channel_disabled, " +
      "no_address, " +
      "sms_needs_dlt_template, consent_withdrawn, no_consent, whatsapp_not_opted_in, dnd, " +
      "suppressed, whatsapp_window_closed, template_not_approved, missing_variables, " +
      "frequency_cap",
  }),
  deferred_reason: z.string().nullable().openapi({
    example: "quiet_hours",
    description: "Why it waits (promotional_hours, quiet_hours, scheduled, retry)",
  }),
  next_attempt_at: DateTime.openapi({ description: "When it may go (deferred: until then)" }),
  summary: z.string().openapi({
    example: "Deferred until 2026-12-02T02:30:00.000Z (quiet_hours).",
    description: "The outcome in words",
  }),
}).openapi("SendResult");

/** A message as the desk reads it: what it said, to whom, and where it is. Costs in paise. */
export const MessageSchema = z.object({
  id: z.guid(),
  customer_id: z.guid(),
  case_id: z.guid().nullable(),
  channel: OutboxChannel,
  purpose: ConsentPurpose,
  template: orNull(z.object({ id: z.guid(), code: z.string(), language: z.string() })),
  subject: z.string().nullable(),
  body: z.string().openapi({ description: "As rendered when queued" }),
  recipient: z.string().nullable().openapi({ description: "The address when queued" }),
  priority: z.number().int().openapi({ description: "0 (first) to 9 (last)" }),
  status: MessageStatus,
  blocked_reason: z.string().nullable(),
  deferred_reason: z.string().nullable(),
  dead_reason: z.string().nullable(),
  attempts: z.number().int(),
  next_attempt_at: DateTime,
  provider: z.string().nullable().openapi({ description: "Vendor of the last attempt" }),
  provider_message_id: z.string().nullable(),
  estimated_cost_paise: orNull(PaiseDecimal),
  cost_paise: orNull(PaiseDecimal).openapi({ description: "As the vendor reported it" }),
  last_error_code: z.string().nullable(),
  last_error: z.string().nullable(),
  created_by: orNull(PersonRef).openapi({ description: "The agent who sent it; null for jobs" }),
  queued_at: DateTime,
  sent_at: DateTime.nullable(),
  delivered_at: DateTime.nullable(),
  read_at: DateTime.nullable(),
  failed_at: DateTime.nullable(),
  created_at: DateTime,
}).openapi("Message");

/** GET /messages: a case's or a customer's messages, a page at a time. Strict, as every query of
 * the issue-7 reads: an unknown parameter is a 422 naming it. */
export const MessageListQuery = z.strictObject({
  case_id: z.guid().optional(),
  customer_id: z.guid().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: CursorParam,
}).refine(
  (query) => query.case_id !== undefined || query.customer_id !== undefined,
  { message: "name a case_id or a customer_id", path: ["customer_id"] },
);

/** POST /messages. */
export const sendMessage = createRoute({
  operationId: "sendMessage",
  method: "post",
  path: "/messages",
  tags: ["Messages"],
  summary: "Send a customer a one-off message through the gate",
  description: "The customer (and the case, if named) must be the caller's. The gate applies " +
    "consent, DND, suppressions, the WhatsApp window, promotional and quiet hours and the " +
    "frequency cap: the answer says whether the message is queued, deferred until when, or " +
    "blocked and why. A repeated Idempotency-Key answers the first message with 200.",
  ...signedIn,
  request: { headers: IdempotencyHeaders, body: jsonBody(NewMessageSchema) },
  responses: {
    201: json("A new message, queued, deferred or blocked", SendResultSchema),
    200: json("The message already sent under this Idempotency-Key", SendResultSchema),
    ...commonProblems,
    403: problem("Only the desk (agents, managers, admins) sends messages"),
    404: problem("No such customer or case, or not yours"),
  },
});

/** GET /messages. */
export const listMessages = createRoute({
  operationId: "listMessages",
  method: "get",
  path: "/messages",
  tags: ["Messages"],
  summary: "A case's or a customer's messages, newest first, a page at a time",
  ...signedIn,
  request: { query: MessageListQuery },
  responses: {
    200: json(
      "A page of messages",
      z.object({ data: z.array(MessageSchema), next_cursor: z.string().nullable() }),
    ),
    ...commonProblems,
  },
});

/** What to redrive: all dead letters, or those of a reason, a provider or a template. */
export const RedriveSchema = z.object({
  dead_reason: z.enum(["stalled", "retries_exhausted"]).optional(),
  provider: VendorCode.optional(),
  template_code: TemplateCode.optional(),
}).strict().openapi("Redrive");

/** POST /messages/redrive. */
export const redriveMessages = createRoute({
  operationId: "redriveMessages",
  method: "post",
  path: "/messages/redrive",
  tags: ["Messages"],
  summary: "Put dead letters back in the queue (admins)",
  description: "Dead letters (stalled or out of retries) matching every filter given go back " +
    "to queued, counters reset. Idempotent: a second call finds none left. Blocked, failed and " +
    "cancelled messages never move, nor do dead letters whose content the retention purge " +
    "emptied (past MESSAGE_BODY_RETENTION_DAYS): when only such letters match, 409.",
  ...signedIn,
  request: { body: jsonBody(RedriveSchema) },
  responses: {
    200: json("How many were redriven", z.object({ redriven: z.number().int().min(0) })),
    ...commonProblems,
    403: problem("Only admins redrive"),
    409: problem(
      "Every dead letter matching had its content purged by retention: none can be sent",
    ),
  },
});
