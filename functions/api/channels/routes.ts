// /api/channels: the ways the desk reaches customers; admins configure them.
import { createRoute, z } from "@hono/zod-openapi";
import { ChannelType, DateTime } from "../../_shared/domain.ts";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";
import { FactPeriodQuery } from "../communications/period.ts";
import { PerformanceSchema } from "../communications/performance.ts";

const VendorCode = z.string().regex(/^[a-z][a-z0-9_]{1,40}$/).openapi({ example: "twilio" });

/**
 * A cost per message in paise, which may be a fraction of a paisa (62.5 paise for an SMS): an
 * exact decimal string, never a float. Up to 8 digits before the point and 4 after.
 */
const PaiseRate = z.string().regex(
  /^(0|[1-9][0-9]{0,7})(\.[0-9]{1,4})?$/,
  "a decimal number of paise such as 62.5, up to 4 decimals",
).openapi({ example: "62.5", description: "Paise per message, an exact decimal string" });

/** A channel as configured. */
export const ChannelSchema = z.object({
  id: z.guid(),
  type: ChannelType,
  name: z.string(),
  provider: VendorCode,
  fallback_provider: VendorCode.nullable(),
  cost_per_message: PaiseRate,
  daily_quota: z.number().int().nullable(),
  enabled: z.boolean(),
  settings: z.record(z.string(), z.unknown()),
  created_at: DateTime,
  updated_at: DateTime,
}).openapi("Channel");

const channelFields = {
  type: ChannelType,
  name: z.string().trim().min(1).max(100),
  provider: VendorCode,
  fallback_provider: VendorCode.nullable(),
  cost_per_message: PaiseRate,
  daily_quota: z.number().int().positive().nullable(),
  enabled: z.boolean(),
  settings: z.record(z.string(), z.unknown()).openapi({
    description: "Non-secret settings (sender id, DLT entity id, ...). Never credentials.",
  }),
};

/** A channel to add (admins). */
export const NewChannelSchema = z.object({
  ...channelFields,
  fallback_provider: channelFields.fallback_provider.default(null),
  cost_per_message: channelFields.cost_per_message.default("0"),
  daily_quota: channelFields.daily_quota.default(null),
  enabled: channelFields.enabled.default(true),
  settings: channelFields.settings.default({}),
}).openapi("NewChannel");

/** A change to a channel (admins): only the fields named. */
export const ChannelChangeSchema = z.object(channelFields).partial()
  .refine((change) => Object.keys(change).length > 0, "name at least one field to change")
  .openapi("ChannelChange");

const IdParams = z.object({ id: uuidParam("id", "Channel id") });

/** GET /channels. */
export const listChannels = createRoute({
  operationId: "listChannels",
  method: "get",
  path: "/channels",
  tags: ["Channels"],
  summary: "Every channel, enabled or not",
  ...signedIn,
  responses: {
    200: json("Channels by type and name", z.object({ data: z.array(ChannelSchema) })),
    401: commonProblems[401],
  },
});

/** POST /channels. */
export const createChannel = createRoute({
  operationId: "createChannel",
  method: "post",
  path: "/channels",
  tags: ["Channels"],
  summary: "Add a channel (admins)",
  ...signedIn,
  request: { body: jsonBody(NewChannelSchema) },
  responses: {
    201: json("The new channel", ChannelSchema),
    ...commonProblems,
    403: problem("Only admins configure channels"),
    409: problem("The name is taken"),
  },
});

/** PUT /channels/{id}. */
export const updateChannel = createRoute({
  operationId: "updateChannel",
  method: "put",
  path: "/channels/{id}",
  tags: ["Channels"],
  summary: "Change a channel (admins)",
  ...signedIn,
  request: { params: IdParams, body: jsonBody(ChannelChangeSchema) },
  responses: {
    200: json("The updated channel", ChannelSchema),
    ...commonProblems,
    403: problem("Only admins configure channels"),
    404: problem("No such channel"),
    409: problem("The name is taken"),
  },
});

/** DELETE /channels/{id}. */
export const deleteChannel = createRoute({
  operationId: "deleteChannel",
  method: "delete",
  path: "/channels/{id}",
  tags: ["Channels"],
  summary: "Remove a channel (admins)",
  ...signedIn,
  request: { params: IdParams },
  responses: {
    204: { description: "Removed" },
    ...commonProblems,
    403: problem("Only admins configure channels"),
    404: problem("No such channel"),
  },
});

/** GET /channels/{id}/performance. */
export const getChannelPerformance = createRoute({
  operationId: "getChannelPerformance",
  method: "get",
  path: "/channels/{id}/performance",
  tags: ["Channels"],
  summary: "A channel's outcomes, latency, failure causes, cost and breakers for a period",
  description: "The measures of GET /vendors/{id}/performance over the messages of the " +
    "channel's type (sms, email, whatsapp) that the caller may see, per provider and template, " +
    "with the circuit breakers of its provider and fallback provider. Read from the analytics " +
    "facts (at most 5 minutes old: facts_as_of). Admins count every message to customers, " +
    "managers those of their subtree's cases. Managers and admins only.",
  ...signedIn,
  request: { params: IdParams, query: FactPeriodQuery },
  responses: {
    200: json(
      "The channel's measures",
      PerformanceSchema.extend({
        channel: ChannelSchema.pick({
          id: true,
          type: true,
          name: true,
          provider: true,
          fallback_provider: true,
        }),
      }).openapi("ChannelPerformance"),
    ),
    ...commonProblems,
    403: problem("Only managers and admins read the vendor reports"),
    404: problem("No such channel"),
  },
});
