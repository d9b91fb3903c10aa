// /api/customers/{id}/consents: a customer's consents for the desk (issue 13). The state per
// channel and purpose (public.consents) and its history (public.consent_ledger, append-only,
// newest first, by cursor); a consent given or withdrawn is recorded as a new ledger row through
// private.record_consent, which checks the caller sees the customer. A customer the caller does
// not see is a 404, like one that does not exist.
import { createRoute, z } from "@hono/zod-openapi";
import {
  ChannelType,
  ConsentPurpose,
  ConsentStatus,
  DateTime,
  orNull,
} from "../../_shared/domain.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

/** The current consent for one channel and purpose (the latest ledger row). */
export const ConsentStateSchema = z.object({
  channel: ChannelType,
  purpose: ConsentPurpose,
  status: ConsentStatus,
  source: z.string(),
  recorded_at: DateTime,
}).openapi("ConsentState");

/** One ledger row: a consent given or withdrawn, with its proof. */
export const ConsentRecordSchema = z.object({
  id: z.number().int().openapi({ description: "Ledger row id (grows with each row)" }),
  customer_id: z.guid(),
  channel: ChannelType,
  purpose: ConsentPurpose,
  status: ConsentStatus,
  source: z.string().openapi({ example: "agent_call" }),
  evidence: z.record(z.string(), z.unknown()).openapi({
    description: "Proof for a regulator: form id, message id, call reference, ...",
  }),
  notice_version: orNull(z.string()).openapi({
    description: "The privacy notice the person saw; null when not known",
  }),
  recorded_by: orNull(z.guid()).openapi({ description: "The user; null for systems" }),
  recorded_at: DateTime,
}).openapi("ConsentRecord");

/** GET's answer: the state and one page of the history. */
export const CustomerConsentsSchema = z.object({
  customer_id: z.guid(),
  current: z.array(ConsentStateSchema),
  history: z.array(ConsentRecordSchema),
  next_cursor: orNull(z.string()).openapi({
    description: "Pass as `cursor` for the next (older) page; null on the last page",
  }),
}).openapi("CustomerConsents");

export const ConsentsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional().openapi({
    description: "next_cursor of the previous page",
  }),
});

/** A consent given or withdrawn on the desk. */
export const ConsentInputSchema = z.object({
  channel: ChannelType,
  purpose: ConsentPurpose,
  status: ConsentStatus,
  source: z.string().regex(/^[a-z][a-z0-9_]{1,39}$/).openapi({
    description: "Where it was given or withdrawn: agent_call, web_form, ... " +
      "(erasure and the customer's own: sms_stop, whatsapp_reply, email_unsubscribe, " +
      "withdrawal_link, telegram_stop, telegram_start are the system's)",
    example: "agent_call",
  }),
  evidence: z.record(z.string(), z.unknown()).default({}).openapi({
    description: "Proof: required (non-empty) for a grant",
    example: { call_id: "C-2041" },
  }),
  notice_version: z.string().trim().min(1).max(100).optional().openapi({
    description:
      "The privacy notice the person saw; defaults to the setting CONSENT_NOTICE_VERSION",
  }),
}).strict().openapi("ConsentInput");

const params = z.object({ id: uuidParam("id", "Customer id") });

/** GET /customers/{id}/consents. */
export const listConsents = createRoute({
  operationId: "listCustomerConsents",
  method: "get",
  path: "/customers/{id}/consents",
  tags: ["Customers"],
  summary: "A customer's consents: the state per channel and purpose, and the ledger",
  description: "The ledger is append-only; newest first (recorded_at, then id), by cursor.",
  ...signedIn,
  request: { params, query: ConsentsQuery },
  responses: {
    200: json("The consents", CustomerConsentsSchema),
    ...commonProblems,
    404: problem("No such customer, or not one the caller sees"),
  },
});

/** POST /customers/{id}/consents. */
export const recordConsent = createRoute({
  operationId: "recordCustomerConsent",
  method: "post",
  path: "/customers/{id}/consents",
  tags: ["Customers"],
  summary: "Record a consent given or withdrawn",
  description: "Appends a ledger row, which becomes the state for that channel and purpose. " +
    "Stamped with the caller, the time and the notice version.",
  ...signedIn,
  request: { params, body: jsonBody(ConsentInputSchema) },
  responses: {
    201: json("The ledger row", ConsentRecordSchema),
    ...commonProblems,
    404: problem("No such customer, or not one the caller sees"),
    409: problem(
      "The customer was erased: nothing but a withdrawal is recorded for them (and its " +
        "evidence is not kept); or a grant over the customer's own opt-out (an SMS STOP, a " +
        "WhatsApp or email opt-out, the withdrawal link: code PY014), which only the customer " +
        "lifts",
    ),
    422: problem(
      "The request did not match the schema, a grant has no evidence, or the " +
        "source is the system's",
    ),
  },
});
