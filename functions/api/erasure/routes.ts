// /api/customers/{id}/erasure: the right to erasure (DPDP Act 2023 s. 12(3), GDPR art. 17).
// Admins erase a customer's personal data, with a reason, in one transaction; what insurance law
// requires (policies, premiums, payments) stays, with the customer as a pseudonym.
import { createRoute, z } from "@hono/zod-openapi";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

/** The body of an erasure: why it is done (a ticket reference, not the person's name). */
export const ErasureRequestSchema = z.object({
  reason: z.string().trim().min(10).max(500).openapi({
    description: "Why the customer is erased, 10 to 500 characters: the person's request and " +
      "its reference. Kept in the data request as evidence: do not write the person's name.",
    example: "Erasure requested by the customer, ticket DPR-2026-0042",
  }),
}).strict().openapi("ErasureRequest");

/** What an erasure did: the data request recording it, and how many rows of each kind changed. */
export const ErasureSchema = z.object({
  data_request_id: z.guid().openapi({ description: "The data request (kind erasure, done)" }),
  customer_id: z.guid(),
  erased_at: z.iso.datetime({ offset: true }),
  counts: z.record(z.string(), z.number().int().min(0)).openapi({
    description: "Rows erased, deleted or changed per kind: customers, messages, " +
      "messages_cancelled, message_events, payment_events, razorpay_calls, ai_requests, " +
      "ai_chat_messages, customer_social_accounts, telegram_link_tokens, suppressions, " +
      "link_clicks, documents_deleted, documents_renamed, objects_queued, consents_withdrawn, " +
      "consent_evidence_erased",
    example: { customers: 1, messages: 12, messages_cancelled: 1, documents_deleted: 1 },
  }),
}).openapi("Erasure");

/** POST /customers/{id}/erasure. */
export const eraseCustomer = createRoute({
  operationId: "eraseCustomer",
  method: "post",
  path: "/customers/{id}/erasure",
  tags: ["Customers"],
  summary: "Erase a customer's personal data (admins)",
  description: "Erases the customer at their request, in one transaction that cannot be " +
    "undone: the name becomes a pseudonym (Erased customer <random>), phone, email and city " +
    "go, and with them every copy: message recipients, subjects, bodies and variables (queued " +
    "messages are cancelled), delivery and inbound webhook payloads, the personal fields of " +
    "Razorpay payloads and requests, AI prompts, answers and chat, linked social accounts, " +
    "suppressions of their addresses, click user agents, and documents no law requires (kept " +
    "ones, such as receipts and KYC within retention, get a generic file name). Consents " +
    "become withdrawn on every channel and purpose; the consent ledger keeps the fact of each " +
    "withdrawal without its evidence. Policies, premiums, payments and allocations are " +
    "unchanged. Records a data request (kind erasure) and an audit entry. Refused with 409 " +
    "while a payment is in flight (a payment created or authorized, an open order, a link " +
    "being paid or open, a live autopay mandate, a pending refund), while a message to the " +
    "customer is being handed to a vendor, and when the customer was already erased.",
  ...signedIn,
  request: {
    params: z.object({ id: uuidParam("id", "Customer id") }),
    body: jsonBody(ErasureRequestSchema),
  },
  responses: {
    200: json("The erasure done", ErasureSchema),
    ...commonProblems,
    403: problem("The caller is not an admin"),
    404: problem("No such customer, or not visible to the caller"),
    409: problem("A payment is in flight, a message is being sent, or already erased"),
    422: problem("The request did not match the schema (reason of 10 to 500 characters)"),
  },
});
