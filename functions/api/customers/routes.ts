// /api/customers: finding a customer, their profile, and the contact details the desk keeps up to
// date.
import { createRoute, z } from "@hono/zod-openapi";
import {
  CasePriority,
  CaseStage,
  ChannelType,
  ConsentPurpose,
  ConsentStatus,
  CustomerSchema,
  DateTime,
  IsoDate,
  MessageStatus,
  orNull,
  OutboxChannel,
  Paise,
  PersonRef,
  PolicySchema,
} from "../../_shared/domain.ts";
import { MobilePhone } from "../../_shared/phone.ts";
import { CaseRiskSchema } from "../cases/routes.ts";
import { provenanceFields } from "../ai/answer.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

/** How many days of messages the profile's communication summary counts. */
export const communicationDays = 90;

/** A customer's messages at a glance: counts of recent ones, the last one, the WhatsApp window. */
export const CommunicationSummarySchema = z.object({
  since: DateTime.openapi({ description: `Start of the counts: ${communicationDays} days ago` }),
  counts: z.array(z.object({
    channel: OutboxChannel,
    status: MessageStatus,
    messages: z.number().int(),
  })).openapi({ description: "Messages queued since `since`, by channel and status" }),
  last_message_at: DateTime.nullable().openapi({ description: "When the latest was queued" }),
  whatsapp_window_until: DateTime.nullable().openapi({
    description: "While the customer's last WhatsApp message keeps the 24-hour window open, " +
      "when it closes (free text may go until then); null when it is closed",
  }),
}).openapi("CommunicationSummary");

/** A rate between two counts, 3 decimals; null when there was nothing to divide by. */
const Rate = (description: string) => z.number().min(0).nullable().openapi({ description });

/** The stored lapse-risk scores of the customer's open cases the caller may see. */
export const ProfileRiskSchema = z.object({
  open_cases: z.number().int().openapi({ description: "Open cases the caller may see" }),
  scored_cases: z.number().int().openapi({
    description: "Of those, the ones scored (the daily scoring has not seen a new case yet)",
  }),
  highest_score: z.number().int().min(0).max(100).nullable(),
  highest_band: z.enum(["low", "medium", "high"]).nullable(),
  cases: z.array(CaseRiskSchema.extend({
    case_id: z.guid(),
    case_number: z.string(),
    stage: CaseStage,
  })).openapi({ description: "Each scored open case, highest score first" }),
}).openapi("ProfileRisk");

/** How the customer answered our messages over the communication summary's days. */
export const EngagementSchema = z.object({
  messages_sent: z.number().int().openapi({ description: "Messages that left us" }),
  delivered: z.number().int(),
  read: z.number().int().openapi({ description: "Read receipts (WhatsApp)" }),
  failed: z.number().int().openapi({ description: "Refused, undeliverable or dead" }),
  links_offered: z.number().int().openapi({
    description: "Tracked links (payment links in reminders) live during the period",
  }),
  links_clicked: z.number().int().openapi({ description: "Of those, the ones opened" }),
  clicks: z.number().int().openapi({ description: "Counted clicks on them" }),
  replies: z.number().int().openapi({
    description: "Messages the customer sent us (SMS or WhatsApp) from their phone number",
  }),
  delivery_rate: Rate("delivered / messages_sent"),
  read_rate: Rate("read / delivered"),
  click_rate: Rate("links_clicked / links_offered"),
  reply_rate: Rate("replies / delivered (above 1 when they wrote more often than we did)"),
}).openapi("Engagement");

/** The customer's installments and payments on the cases the caller may see; money in paise. */
export const PaymentBehaviourSchema = z.object({
  installments_paid_on_time: z.number().int().openapi({
    description: "Paid on or before their due date (IST)",
  }),
  installments_paid_late: z.number().int(),
  installments_overdue: z.number().int().openapi({ description: "Past due and unpaid now" }),
  overdue_amount: Paise.openapi({ description: "Still owed on those, in paise" }),
  installments_upcoming: z.number().int().openapi({ description: "Not yet due" }),
  installments_waived: z.number().int(),
  failed_payments: z.number().int().openapi({ description: "Payment attempts that failed" }),
  last_failed_payment_at: DateTime.nullable(),
  on_time_rate: Rate("installments_paid_on_time / all installments paid"),
}).openapi("PaymentBehaviour");

/** The profile's summary in words: the assistant's, or the rules' from the same figures. */
export const ProfileSummarySchema = z.object({
  text: z.string().openapi({
    example: "High lapse risk (72): 3 days into grace with 1 failed payment. Reads WhatsApp " +
      "but has not opened the payment link; paid 3 of 4 installments on time.",
  }),
  ...provenanceFields,
  generated_at: DateTime.openapi({
    description: "When this text was written (for a cached summary: when the model wrote it)",
  }),
}).openapi("ProfileSummary");

/** A customer with the policies, cases and consents the caller may see; money in paise. */
export const CustomerProfileSchema = z.object({
  customer: CustomerSchema,
  policies: z.array(PolicySchema),
  cases: z.array(z.object({
    id: z.guid(),
    case_number: z.string(),
    policy_id: z.guid(),
    stage: CaseStage,
    priority: CasePriority,
    due_date: IsoDate,
    outstanding: Paise.openapi({ description: "Still owed on the case, in paise" }),
    assignee: orNull(PersonRef),
  })),
  consents: z.array(z.object({
    channel: ChannelType,
    purpose: ConsentPurpose,
    status: ConsentStatus,
    source: z.string(),
    recorded_at: DateTime,
  })),
  communications: CommunicationSummarySchema,
  risk: ProfileRiskSchema,
  engagement: EngagementSchema.openapi({
    description: `Over the last ${communicationDays} days, like the communication summary`,
  }),
  payment_behaviour: PaymentBehaviourSchema,
  ai_summary: ProfileSummarySchema.openapi({
    description: "The figures above in two or three sentences. Written by the assistant when " +
      "it is on, and kept until the figures change (the same figures get the same summary); " +
      "else, or when the assistant fails, over budget or rate-limited, written by rules",
  }),
}).openapi("CustomerProfile");

/** The search of GET /customers. */
export const CustomerSearchQuery = z.object({
  q: z.string().trim().min(3).max(100).openapi({
    example: "meera",
    description: "Part of the customer's name (3 characters or more, any case), or their " +
      "phone number as people write it (98123 45678, 098123-45678, +91 98123 45678, ...)",
  }),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

/** GET /customers. */
export const searchCustomers = createRoute({
  operationId: "searchCustomers",
  method: "get",
  path: "/customers",
  tags: ["Customers"],
  summary: "Find customers the caller may see by name or phone",
  description: "Up to `limit` customers in name order; a search that matches more says so with " +
    "`more: true`, and a longer fragment narrows it.",
  ...signedIn,
  request: { query: CustomerSearchQuery },
  responses: {
    200: json(
      "The customers found",
      z.object({ data: z.array(CustomerSchema), more: z.boolean() }),
    ),
    ...commonProblems,
  },
});

/** The path of one customer. */
export const CustomerIdParams = z.object({ id: uuidParam("id", "Customer id") });

/** GET /customers/{id}/profile. */
export const getCustomerProfile = createRoute({
  operationId: "getCustomerProfile",
  method: "get",
  path: "/customers/{id}/profile",
  tags: ["Customers"],
  summary: "A customer with their policies, renewal cases, consents and messages at a glance, " +
    "their lapse risk, engagement, payment behaviour and a summary in words",
  description: "Only the policies and cases the caller may see are listed, and only they count " +
    "in the figures. The communication summary counts the last " +
    `${communicationDays} days' messages by channel and status, with the latest message's time ` +
    "and the WhatsApp window; GET /messages lists them. `risk` holds the stored lapse-risk " +
    "scores of the open cases; `engagement` the same days' deliveries, reads, tracked-link " +
    "clicks and replies with their rates; `payment_behaviour` the installments paid on time " +
    "or late, overdue now, and failed payments. `ai_summary` puts them in words: the " +
    "assistant's summary (from these figures only, never the customer's name or contact " +
    "details), kept until the figures change, or the rules' (`source: rules` and why). This " +
    "route never answers 429: over the AI rate limit the summary comes from the rules.",
  ...signedIn,
  request: { params: CustomerIdParams },
  responses: {
    200: json("The profile", CustomerProfileSchema),
    ...commonProblems,
    404: problem("No such customer, or not yours to see"),
  },
});

/**
 * Free text as the desk types it, trimmed, `min` to `max` characters, and well-formed Unicode: a
 * lone UTF-16 surrogate (`\ud800` in JSON) has no UTF-8 form, and the database would store U+FFFD
 * in its place.
 */
const DeskText = (min: number, max: number) =>
  z.string().trim().min(min).max(max).refine(
    (text) => text.isWellFormed(),
    "must be well-formed Unicode (no lone surrogate)",
  );

/**
 * The contact details the desk may change: exactly the customer columns granted to
 * `authenticated`. A null clears an optional detail; the phone is stored in E.164.
 */
export const CustomerChangeSchema = z.object({
  full_name: DeskText(1, 200),
  phone: orNull(MobilePhone),
  email: z.email().max(320).nullable(),
  language: z.string().regex(/^[a-z]{2}(-[A-Z]{2})?$/, "an ISO 639-1 code such as en, hi or ta")
    .openapi({ example: "hi" }),
  preferred_channel: orNull(ChannelType),
  city: DeskText(1, 100).nullable(),
}).partial().strict()
  .refine((change) => Object.keys(change).length > 0, "name at least one field to change")
  .openapi("CustomerChange");

/** PATCH /customers/{id}. */
export const patchCustomer = createRoute({
  operationId: "patchCustomer",
  method: "patch",
  path: "/customers/{id}",
  tags: ["Customers"],
  summary: "Correct a customer's contact details",
  description: "Name, phone, email, language, preferred channel and city. A phone number may be " +
    "written as people write it (098123 45678, +91 98123-45678); it is checked to be a mobile " +
    "number and stored in E.164. DND and KYC are not the desk's to change.",
  ...signedIn,
  request: { params: CustomerIdParams, body: jsonBody(CustomerChangeSchema) },
  responses: {
    200: json("The customer as now stored", CustomerSchema),
    ...commonProblems,
    404: problem("No such customer, or not yours to see"),
  },
});
