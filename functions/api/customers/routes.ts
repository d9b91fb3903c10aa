import { createRoute, z } from "@hono/zod-openapi";
import {
  commonProblems,
  IsoDate,
  json,
  Paise,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";
import { PaymentFrequency, PolicyStatus, Priority, ProductLine, Stage } from "../cases/routes.ts";

export const CustomerProfileSchema = z.object({
  customer: z.object({
    id: z.uuid(),
    full_name: z.string(),
    phone: z.string().nullable(),
    email: z.string().nullable(),
    language: z.string(),
    preferred_channel: z.string().nullable(),
    dnd: z.boolean(),
    kyc_verified_on: IsoDate.nullable(),
    city: z.string().nullable(),
  }),
  policies: z.array(z.object({
    id: z.uuid(),
    policy_number: z.string(),
    product_line: ProductLine,
    insurer: z.string(),
    premium: Paise,
    sum_insured: Paise,
    start_date: IsoDate,
    end_date: IsoDate,
    payment_frequency: PaymentFrequency,
    ncb_percent: z.number().int(),
    status: PolicyStatus,
  })),
  cases: z.array(z.object({
    id: z.uuid(),
    case_number: z.string(),
    policy_id: z.uuid(),
    stage: Stage,
    priority: Priority,
    due_date: IsoDate,
    outstanding: Paise,
    assignee: z.object({ id: z.uuid(), full_name: z.string() }).nullable(),
  })),
  consents: z.array(z.object({
    channel: z.string(),
    purpose: z.enum(["transactional", "service", "marketing"]),
    status: z.enum(["granted", "withdrawn"]),
    source: z.string(),
    recorded_at: z.string().openapi({ format: "date-time" }),
  })),
}).openapi("CustomerProfile");

export const getCustomerProfile = createRoute({
  method: "get",
  path: "/customers/{id}/profile",
  tags: ["Customers"],
  summary: "A customer with their policies, renewal cases and consents",
  description: "Only the policies and cases the caller may see are listed. Messaging history " +
    "joins this profile once the communications pipeline exists.",
  ...signedIn,
  request: { params: z.object({ id: uuidParam("id", "Customer id") }) },
  responses: {
    200: json("The profile", CustomerProfileSchema),
    ...commonProblems,
    404: problem("No such customer, or not yours to see"),
  },
});
