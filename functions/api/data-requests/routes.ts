// /api/customers/{id}/export and /api/data-requests: the right of access and portability (DPDP
// Act 2023 s. 11, GDPR arts. 15 and 20). An admin asks for an export of everything held about a
// customer; the housekeeping run builds it in the background (private.customer_export: every
// table that holds the person's data, found from the catalog) and stores it as JSON in the object
// store; the data request then offers a short-lived presigned download until the export expires
// (EXPORT_DOWNLOAD_DAYS, 7). Erasures are data requests too (POST /customers/{id}/erasure).
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, orNull } from "../../_shared/domain.ts";
import { commonProblems, json, problem, signedIn, uuidParam } from "../../_shared/schemas.ts";

/** The kinds and statuses of a data request, as public.data_requests has them. */
export const dataRequestKinds = ["export", "erasure"] as const;
export const dataRequestStatuses = ["pending", "running", "done", "failed"] as const;

/** A presigned download of a finished export and when that URL stops working. */
export const DataRequestDownloadSchema = z.object({
  download_url: z.url().openapi({
    description: "A presigned GET URL of the export's JSON in the object store",
  }),
  expires_at: DateTime.openapi({
    description: "When this URL stops working (15 minutes after it was signed); ask again for " +
      "a fresh one while the export is offered",
  }),
}).openapi("DataRequestDownload");

/** A data request as the API shows it. */
export const DataRequestSchema = z.object({
  id: z.guid(),
  kind: z.enum(dataRequestKinds).openapi({
    description: "export: a JSON copy of everything held about the customer; erasure: their " +
      "personal data erased",
  }),
  customer_id: z.guid(),
  reason: orNull(z.string()).openapi({ description: "Why it was made, as the admin wrote it" }),
  requested_by: orNull(z.guid()).openapi({ description: "The admin who made it" }),
  status: z.enum(dataRequestStatuses).openapi({
    description: "pending: waiting for the background run; running: being built; done; " +
      "failed: gave up after 3 attempts (see error)",
  }),
  attempts: z.number().int().openapi({ description: "Background attempts so far (at most 3)" }),
  byte_size: orNull(z.number().int()).openapi({ description: "Size of the export's JSON, bytes" }),
  error: orNull(z.string()).openapi({ description: "The last failure, in words" }),
  created_at: DateTime,
  started_at: orNull(DateTime),
  completed_at: orNull(DateTime),
  expires_at: orNull(DateTime).openapi({
    description: "An export: until when it can be downloaded (completed_at + " +
      "EXPORT_DOWNLOAD_DAYS days); its object is deleted after",
  }),
  download: orNull(DataRequestDownloadSchema).openapi({
    description: "A finished export still offered: a fresh presigned URL. Null otherwise " +
      "(and in lists)",
  }),
}).openapi("DataRequest");

/** The optional body of POST /customers/{id}/export. */
export const ExportRequestSchema = z.object({
  reason: z.string().trim().max(500).optional().openapi({
    description: "Why the export is made: the person's request and its reference (not their " +
      "name), up to 500 characters",
    example: "Access request by email, ticket DPR-2026-0043",
  }),
}).strict().openapi("ExportRequest");

/** The filters and keyset cursor of GET /data-requests. */
export const DataRequestQuery = z.object({
  customer_id: z.guid().optional(),
  kind: z.enum(dataRequestKinds).optional(),
  status: z.enum(dataRequestStatuses).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(200).optional().openapi({
    description: "`next_cursor` of the previous page (of a list with the same filters)",
  }),
});

const adminsOnly = problem("The caller is not an admin");
const storageDown = problem("The object store is not configured");

/** POST /customers/{id}/export. */
export const requestExport = createRoute({
  operationId: "requestCustomerExport",
  method: "post",
  path: "/customers/{id}/export",
  tags: ["Data requests"],
  summary: "Export everything held about a customer (admins)",
  description: "Records a data request (kind export, pending) and answers 202 at once; the " +
    "background housekeeping run builds one JSON document of every row held about the " +
    "customer — profile, policies, cases, consents and their ledger, messages and delivery " +
    "events, payments, orders, links, refunds and their webhooks, the documents list (not the " +
    "files), AI calls, tasks, link clicks, and the audit history of those rows — found by " +
    "following the database's references, so a table added later is included. Poll GET " +
    "/data-requests/{id}: when done it carries a presigned download URL. The body is optional. " +
    "Admins only (403 for anyone else); 404 for an unknown customer.",
  ...signedIn,
  request: {
    params: z.object({ id: uuidParam("id", "Customer id") }),
    body: {
      required: false,
      content: { "application/json": { schema: ExportRequestSchema } },
    },
  },
  responses: {
    202: json("The export requested, to be built in the background", DataRequestSchema),
    ...commonProblems,
    403: adminsOnly,
    404: problem("No such customer"),
  },
});

/** GET /data-requests. */
export const listDataRequests = createRoute({
  operationId: "listDataRequests",
  method: "get",
  path: "/data-requests",
  tags: ["Data requests"],
  summary: "Data requests (exports and erasures), newest first (admins)",
  description: "Every export and erasure request, filtered by customer, kind or status, newest " +
    "first, page by page. Admins only.",
  ...signedIn,
  request: { query: DataRequestQuery },
  responses: {
    200: json(
      "A page of data requests",
      z.object({ data: z.array(DataRequestSchema), next_cursor: z.string().nullable() }),
    ),
    ...commonProblems,
    403: adminsOnly,
  },
});

/** GET /data-requests/{id}. */
export const getDataRequest = createRoute({
  operationId: "getDataRequest",
  method: "get",
  path: "/data-requests/{id}",
  tags: ["Data requests"],
  summary: "One data request, with the export's download when done (admins)",
  description: "The request; for a finished export still offered, `download` holds a presigned " +
    "GET URL of its JSON valid 15 minutes (ask again for another). Admins only.",
  ...signedIn,
  request: { params: z.object({ id: uuidParam("id", "Data request id") }) },
  responses: {
    200: json("The data request", DataRequestSchema),
    ...commonProblems,
    403: adminsOnly,
    404: problem("No such data request"),
    503: storageDown,
  },
});
