import { createRoute, z } from "@hono/zod-openapi";
import {
  commonProblems,
  json,
  jsonBody,
  problem,
  signedIn,
  uuidParam,
} from "../../_shared/schemas.ts";

const ChannelType = z.enum(["sms", "email", "whatsapp", "telegram", "voice"]).openapi(
  "ChannelType",
);
const VendorCode = z.string().regex(/^[a-z][a-z0-9_]{1,40}$/).openapi({ example: "twilio" });

export const ChannelSchema = z.object({
  id: z.uuid(),
  type: ChannelType,
  name: z.string(),
  provider: VendorCode,
  fallback_provider: VendorCode.nullable(),
  cost_per_message: z.number().openapi({ description: "Paise per message (may be fractional)" }),
  daily_quota: z.number().int().nullable(),
  enabled: z.boolean(),
  settings: z.record(z.string(), z.unknown()),
  created_at: z.string().openapi({ format: "date-time" }),
  updated_at: z.string().openapi({ format: "date-time" }),
}).openapi("Channel");

const channelFields = {
  type: ChannelType,
  name: z.string().trim().min(1).max(100),
  provider: VendorCode,
  fallback_provider: VendorCode.nullable(),
  cost_per_message: z.number().min(0).max(99_999_999).multipleOf(0.0001),
  daily_quota: z.number().int().positive().nullable(),
  enabled: z.boolean(),
  settings: z.record(z.string(), z.unknown()).openapi({
    description: "Non-secret settings (sender id, DLT entity id, ...). Never credentials.",
  }),
};

export const NewChannelSchema = z.object({
  ...channelFields,
  fallback_provider: channelFields.fallback_provider.default(null),
  cost_per_message: channelFields.cost_per_message.default(0),
  daily_quota: channelFields.daily_quota.default(null),
  enabled: channelFields.enabled.default(true),
  settings: channelFields.settings.default({}),
}).openapi("NewChannel");

export const ChannelChangeSchema = z.object(channelFields).partial()
  .refine((change) => Object.keys(change).length > 0, "name at least one field to change")
  .openapi("ChannelChange");

const IdParams = z.object({ id: uuidParam("id", "Channel id") });

export const listChannels = createRoute({
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

export const createChannel = createRoute({
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

export const updateChannel = createRoute({
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

export const deleteChannel = createRoute({
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
