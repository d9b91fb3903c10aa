// The renewal domain's vocabulary, said once: every enum of the database and the shapes that more
// than one resource returns. Routes import from here and never spell a value list of their own.
// tests/functions/domain.test.ts holds each enum equal to the database's `enum_range()`.
import { z } from "@hono/zod-openapi";

/** Values of public.hierarchy_level: the four levels of the organisation, top down. */
export const hierarchyLevels = ["zone", "region", "branch", "team"] as const;
/** Values of public.app_role: what a signed-in user is to the desk. */
export const appRoles = ["admin", "manager", "agent", "analyst"] as const;
/** Values of public.product_line. */
export const productLines = ["motor", "health", "life", "home"] as const;
/** Values of public.payment_frequency: how often a policy's yearly premium is paid. */
export const paymentFrequencies = ["annual", "half_yearly", "quarterly", "monthly"] as const;
/** Values of public.policy_status, in the database's order. */
export const policyStatuses = ["active", "renewed", "lapsed", "expired", "cancelled"] as const;
/** Values of public.case_stage: the renewal pipeline, then its endings. */
export const caseStages = [
  "new",
  "contacted",
  "quoted",
  "payment_pending",
  "renewed",
  "pending_lapse",
  "lapsed",
  "lost",
  "not_taken",
] as const;
/** Values of public.case_priority, lowest first. */
export const casePriorities = ["low", "normal", "high", "urgent"] as const;
/** Values of public.installment_status. */
export const installmentStatuses = ["pending", "paid", "overdue", "waived"] as const;
/** Values of public.channel_type: the ways a customer can be reached. */
export const channelTypes = ["sms", "email", "whatsapp", "telegram", "voice"] as const;
/** Values of public.consent_purpose. */
export const consentPurposes = ["transactional", "service", "marketing"] as const;
/** Values of public.consent_status. */
export const consentStatuses = ["granted", "withdrawn"] as const;
/** Values of public.payment_status: a Razorpay payment's state, as Razorpay names it. */
export const paymentStatuses = ["created", "authorized", "captured", "failed", "refunded"] as const;
/**
 * Values of public.message_status: an outbound message's way from the outbox to the customer
 * (queued > sending > sent > delivered > read), or where it stopped.
 */
export const messageStatuses = [
  "queued",
  "sending",
  "sent",
  "delivered",
  "read",
  "failed",
  "undeliverable",
  "cancelled",
  "blocked",
  "dead",
] as const;
/** Values of public.whatsapp_template_category: Meta's categories, which set a message's price. */
export const whatsappTemplateCategories = ["utility", "marketing", "authentication"] as const;
/**
 * The channels the outbox sends on: the part of public.channel_type that messages and templates
 * accept (their `channel in ('sms', 'email', 'whatsapp')` checks), not an enum of its own.
 */
export const messageChannels = ["sms", "email", "whatsapp"] as const;
/**
 * The channels of public.messages (its messages_channel_check): messageChannels plus telegram,
 * which carries one-off and system messages to customers (and admins) who linked a chat through
 * the bot (issue 12). Templates, campaigns and reminder rules stay on messageChannels.
 */
export const outboxChannels = [...messageChannels, "telegram"] as const;
/** Values of public.campaign_status: a campaign from draft to running, paused, completed or cancelled. */
export const campaignStatuses = [
  "draft",
  "scheduled",
  "running",
  "paused",
  "completed",
  "cancelled",
] as const;
/** Values of public.campaign_step_condition: who gets a flow step, judged on the previous message. */
export const campaignStepConditions = ["always", "not_read", "not_delivered"] as const;
/** Values of public.ai_purpose: what an AI assistant request was for. */
export const aiPurposes = [
  "risk_assessment",
  "policy_recommendations",
  "profile_summary",
  "draft",
  "chat",
] as const;
/** Values of public.ai_outcome: how an AI request ended (public.ai_requests.outcome). */
export const aiOutcomes = [
  "pending",
  "ok",
  "cached",
  "invalid",
  "refused",
  "truncated",
  "timeout",
  "error",
  "rate_limited",
  "over_budget",
] as const;

/** Values of public.document_kind: what a stored document is. */
export const documentKinds = [
  "policy_copy",
  "renewal_notice",
  "receipt",
  "kyc",
  "endorsement",
  "other",
] as const;

/**
 * Each enum type of the `public` schema with the values the API knows, in the database's order.
 * A test compares this with `enum_range()` of every enum type in `public`, both ways.
 */
export const databaseEnums = {
  hierarchy_level: hierarchyLevels,
  app_role: appRoles,
  product_line: productLines,
  payment_frequency: paymentFrequencies,
  policy_status: policyStatuses,
  case_stage: caseStages,
  case_priority: casePriorities,
  installment_status: installmentStatuses,
  channel_type: channelTypes,
  consent_purpose: consentPurposes,
  consent_status: consentStatuses,
  payment_status: paymentStatuses,
  message_status: messageStatuses,
  whatsapp_template_category: whatsappTemplateCategories,
  campaign_status: campaignStatuses,
  campaign_step_condition: campaignStepConditions,
  ai_purpose: aiPurposes,
  ai_outcome: aiOutcomes,
  document_kind: documentKinds,
} as const satisfies Record<string, readonly string[]>;

/** What a document is. */
export const DocumentKind = z.enum(documentKinds).openapi("DocumentKind", {
  description: "policy_copy: the insurer's schedule or certificate; renewal_notice and receipt: " +
    "ours, generated only (never uploaded); kyc: identity or address proof; endorsement: an " +
    "insurer's change to a policy; other: anything else",
});
export const HierarchyLevel = z.enum(hierarchyLevels).openapi("HierarchyLevel");
export const AppRole = z.enum(appRoles).openapi("AppRole");
export const ProductLine = z.enum(productLines).openapi("ProductLine");
export const PaymentFrequency = z.enum(paymentFrequencies).openapi("PaymentFrequency");
export const PolicyStatus = z.enum(policyStatuses).openapi("PolicyStatus", {
  description: "active: in force or in its renewal window; renewed: a paid renewal followed it; " +
    "lapsed: the renewal went unpaid through grace; expired: the term ended without renewal " +
    "(case lost or not taken, or no case was opened); cancelled: ended early by the insurer",
});
export const CaseStage = z.enum(caseStages).openapi("CaseStage", {
  description: "new > contacted > quoted > payment_pending > renewed; after expiry " +
    "pending_lapse > lapsed; or lost / not_taken with a reason. renewed, lapsed, lost and " +
    "not_taken are final.",
});
export const CasePriority = z.enum(casePriorities).openapi("CasePriority");
export const InstallmentStatus = z.enum(installmentStatuses).openapi("InstallmentStatus");
export const PaymentStatus = z.enum(paymentStatuses).openapi("PaymentStatus");
export const ChannelType = z.enum(channelTypes).openapi("ChannelType");
export const ConsentPurpose = z.enum(consentPurposes).openapi("ConsentPurpose");
export const ConsentStatus = z.enum(consentStatuses).openapi("ConsentStatus");
export const MessageStatus = z.enum(messageStatuses).openapi("MessageStatus", {
  description: "queued: waiting to be sent (next_attempt_at says when, if deferred); sending: " +
    "with a dispatcher; sent: the vendor accepted it; delivered: it reached the handset or " +
    "mailbox; read: opened (WhatsApp); failed: refused for good; undeliverable: the vendor " +
    "could not deliver it; cancelled: no longer needed; blocked: the gate refused it " +
    "(blocked_reason says why); dead: stalled or out of retries, for an admin to redrive.",
});
export const WhatsappTemplateCategory = z.enum(whatsappTemplateCategories).openapi(
  "WhatsappTemplateCategory",
  { description: "Meta's template category: utility, marketing or authentication" },
);
export const MessageChannel = z.enum(messageChannels).openapi("MessageChannel", {
  description: "A channel the outbox sends on (part of ChannelType)",
});
/** A channel a message may be on: MessageChannel or telegram (messages, their lists). */
export const OutboxChannel = z.enum(outboxChannels).openapi("OutboxChannel", {
  description: "A channel of the outbox's messages: sms, email, whatsapp, or telegram for a " +
    "customer who linked a chat with the bot (part of ChannelType)",
});

/**
 * `schema` or null. A named schema's own `.nullable()` would carry its name along and turn the
 * shared component itself nullable in the document; a union keeps the component as it is.
 */
export function orNull<T extends z.ZodType>(schema: T) {
  return z.union([schema, z.null()]);
}

/** A calendar date, `YYYY-MM-DD`; business dates are Indian Standard Time days. */
export const IsoDate = z.iso.date().openapi({ example: "2026-12-31" });

/** An instant, ISO 8601 with a zone (the API answers in UTC, `...Z`). */
export const DateTime = z.string().openapi({ format: "date-time" });

/** The first and last years a reporting period may touch (periodYears.min ..= max). */
export const periodYears = { min: 2000, max: 2100 } as const;

const periodYearMessage = `must fall in the years ${periodYears.min} to ${periodYears.max}`;

/** Whether a `YYYY-...` text (a date or an instant) starts with a year periods may touch. */
const inPeriodYears = (value: string) => {
  const year = Number(value.slice(0, 4));
  return year >= periodYears.min && year <= periodYears.max;
};

/**
 * A day of a reporting period, `YYYY-MM-DD` (a business day, IST), in the years periodYears
 * allows: the database and JavaScript's Date both read every such day (a BC or five-digit year
 * would not round-trip).
 */
export const PeriodDay = z.iso.date().refine(inPeriodYears, { message: periodYearMessage })
  .openapi({ example: "2026-12-01" });

/**
 * One end of a reporting period: a business day `YYYY-MM-DD` (IST) or an ISO 8601 instant with
 * its offset (`2026-12-01T09:30:00+05:30`, `...Z`), its year within periodYears. Each route says
 * how it reads a day: `from` as the day's first moment, `to` through the day's last.
 */
export const PeriodBound = z.union([
  z.iso.date(),
  z.iso.datetime({ offset: true }),
]).refine(inPeriodYears, { message: periodYearMessage }).openapi({ example: "2026-12-01" });

/**
 * Money in integer paise (₹1 = 100 paise), never a float: a JSON number that is a safe integer.
 * The database's bigint reaches JavaScript through `paise.ts`, which refuses what would not fit.
 */
export const Paise = z.number().int().min(0).openapi({
  example: 1250000,
  description: "Amount in paise (₹1 = 100 paise), an integer",
});

/**
 * An exact amount of paise that may hold fractions of a paisa (an email costs 0.85 paise): a
 * decimal string, never a float. Message costs and their sums cross the wire this way.
 */
export const PaiseDecimal = z.string().regex(/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/).openapi({
  example: "62.5",
  description: "Paise as an exact decimal string (₹1 = 100 paise)",
});

/** A template's code (templates.code), shared by its channel and language variants. */
export const TemplateCode = z.string().regex(/^[a-z][a-z0-9_]{1,60}$/).openapi({
  example: "renewal_due_60",
});

/** A vendor's code (vendors.code): twilio, aws_sns, aws_ses, sendgrid, whatsapp_cloud, ... */
export const VendorCode = z.string().regex(/^[a-z][a-z0-9_]{1,40}$/).openapi({
  example: "twilio",
});

/** Someone named on a row: a case's assignee. */
export const PersonRef = z.object({ id: z.guid(), full_name: z.string() }).openapi("PersonRef");

/** A policy term as the desk reads it. Amounts in paise, dates are the term's IST days. */
export const PolicySchema = z.object({
  id: z.guid(),
  policy_number: z.string().openapi({ example: "MOT/2026/000123" }),
  product_line: ProductLine,
  insurer: z.string(),
  premium: Paise.openapi({ description: "Yearly premium in paise" }),
  sum_insured: Paise.openapi({ description: "Sum insured (IDV for motor) in paise" }),
  start_date: IsoDate,
  end_date: IsoDate,
  payment_frequency: PaymentFrequency,
  ncb_percent: z.number().int().openapi({ description: "No-claim bonus, percent (motor)" }),
  status: PolicyStatus,
}).openapi("Policy");

/** A customer's contact details, as every route that names a customer in full returns them. */
export const CustomerSchema = z.object({
  id: z.guid(),
  full_name: z.string(),
  phone: z.string().nullable().openapi({
    example: "+919812345678",
    description: "Mobile number in E.164",
  }),
  email: z.string().nullable(),
  language: z.string().openapi({ example: "hi", description: "ISO 639-1, optionally -REGION" }),
  preferred_channel: orNull(ChannelType),
  dnd: z.boolean().openapi({ description: "On the NCPR (Do Not Disturb) registry" }),
  kyc_verified_on: IsoDate.nullable(),
  city: z.string().nullable(),
}).openapi("Customer");
