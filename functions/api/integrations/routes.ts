// /api/integrations/social-media: the organisation's social platforms (the specification's four
// endpoints). Facebook, X and LinkedIn connect by OAuth 2.0 authorization code (state; PKCE for
// X): connect answers the URL the admin opens, the `oauth` function's callback stores the tokens
// encrypted. Telegram connects with the bot token: its webhook is registered with a fresh
// secret. WeChat needs a regional implementation and answers 501. Tokens never appear in any
// answer. Admins connect and disconnect; desk members read the status; agents verify customers
// they can see; an admin asks for a deep link to their own Telegram chat, for alerts.
import { createRoute, z } from "@hono/zod-openapi";
import { DateTime, orNull } from "../../_shared/domain.ts";
import { commonProblems, json, jsonBody, problem, signedIn } from "../../_shared/schemas.ts";

/** Every platform the endpoints name (WeChat only to say it is not implemented). */
export const SocialPlatformSchema = z.enum(["facebook", "x", "linkedin", "telegram", "wechat"])
  .openapi("SocialPlatform");

/** A platform's connection as the desk sees it: never a token. */
export const SocialConnectionSchema = z.object({
  platform: SocialPlatformSchema,
  status: z.enum(["connected", "error", "disconnected", "not_connected", "not_implemented"])
    .openapi({
      description: "connected: usable; error: the last refresh or call failed (see last_error); " +
        "disconnected: revoked by an admin; not_connected: never connected; not_implemented: " +
        "WeChat (a regional implementation is required)",
    }),
  configured: z.boolean().openapi({
    description: "Whether the platform's credentials (and the token encryption key) are set",
  }),
  account_id: orNull(z.string()),
  account_name: orNull(z.string()),
  scopes: z.array(z.string()),
  expires_at: orNull(DateTime).openapi({ description: "When the access token expires" }),
  refresh_expires_at: orNull(DateTime),
  last_refreshed_at: orNull(DateTime),
  last_error: orNull(z.string()),
  last_error_at: orNull(DateTime),
  connected_at: orNull(DateTime),
  detail: z.string().optional().openapi({ description: "Why the platform is unavailable" }),
}).openapi("SocialConnection");

export const ConnectRequestSchema = z.object({ platform: SocialPlatformSchema }).strict()
  .openapi("SocialConnectRequest");

export const ConnectAnswerSchema = z.union([
  z.object({
    platform: z.enum(["facebook", "x", "linkedin"]),
    authorization_url: z.url().openapi({
      description: "Open it in the admin's browser; the platform sends them back to the " +
        "oauth function's callback, which stores the connection",
    }),
    expires_at: DateTime.openapi({ description: "The authorization must finish before this" }),
  }),
  SocialConnectionSchema,
]).openapi("SocialConnectAnswer");

export const VerifyRequestSchema = z.object({
  platform: SocialPlatformSchema,
  customer_id: z.guid(),
  handle: z.string().trim().regex(/^@?[A-Za-z0-9_]{1,15}$/).optional().openapi({
    description: "X: the customer's handle to look up",
  }),
  page_scoped_id: z.string().trim().regex(/^\d{5,30}$/).optional().openapi({
    description: "Facebook: the customer's page-scoped id, when known",
  }),
}).strict().openapi("SocialVerifyRequest");

export const VerifyAnswerSchema = z.object({
  platform: SocialPlatformSchema,
  customer_id: z.guid(),
  answerable: z.boolean().openapi({
    description: "false when the platform cannot say (e.g. LinkedIn members): see reason",
  }),
  reachable: orNull(z.boolean()).openapi({ description: "null when not answerable" }),
  reason: z.string().optional(),
  account: z.object({
    id: z.string().optional().openapi({ description: "X user id, Facebook page-scoped id" }),
    name: z.string().optional(),
    username: orNull(z.string()).optional(),
    chat_id: z.string().optional().openapi({ description: "Telegram: the linked chat" }),
    linked_at: DateTime.optional(),
    verified_at: orNull(DateTime).optional(),
  }).optional(),
  invited: orNull(z.object({
    message_id: z.uuid(),
    channel: z.string(),
    status: z.string(),
    blocked_reason: orNull(z.string()),
  })).optional().openapi({
    description: "Telegram, not linked: the invitation queued to the customer carrying their " +
      "own deep link (`/start <token>`; the link is never in this answer), at most one a day; " +
      "null or blocked when it could not be sent (see reason)",
  }),
}).passthrough().openapi("SocialVerifyAnswer");

export const DisconnectAnswerSchema = z.object({
  connection: SocialConnectionSchema,
  revoked: z.boolean().openapi({ description: "Whether the platform confirmed the revoke" }),
  revoke_error: z.string().optional().openapi({
    description: "Why the platform's revoke failed; the tokens were deleted anyway",
  }),
}).openapi("SocialDisconnectAnswer");

const tags = ["Integrations"];
const notImplemented = problem("WeChat: a regional implementation is required");
const unavailable = problem("The platform or the token encryption key is not configured");

/** POST /integrations/social-media/connect. */
export const connectSocial = createRoute({
  operationId: "connectSocialMedia",
  method: "post",
  path: "/integrations/social-media/connect",
  tags,
  summary: "Connect a social platform (admins)",
  description: "Facebook, X, LinkedIn: the authorization URL to open (OAuth 2.0 code with " +
    "state; PKCE for X). Telegram: registers the bot's webhook with a fresh secret and answers " +
    "the connection; connecting again rotates the secret, the replaced one still accepted for " +
    "TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS. WeChat: 501.",
  ...signedIn,
  request: { body: jsonBody(ConnectRequestSchema) },
  responses: {
    200: json("The authorization URL, or the Telegram connection", ConnectAnswerSchema),
    ...commonProblems,
    403: problem("Only admins connect platforms"),
    501: notImplemented,
    502: problem("The platform failed"),
    503: unavailable,
  },
});

/** GET /integrations/social-media/status. */
export const socialStatus = createRoute({
  operationId: "socialMediaStatus",
  method: "get",
  path: "/integrations/social-media/status",
  tags,
  summary: "Each platform's connection: account, scopes, expiry, last error",
  ...signedIn,
  responses: {
    200: json("Every platform", z.object({ data: z.array(SocialConnectionSchema) })),
    ...commonProblems,
    403: problem("Only desk members read the status"),
  },
});

/** POST /integrations/social-media/verify. */
export const verifySocial = createRoute({
  operationId: "verifySocialMedia",
  method: "post",
  path: "/integrations/social-media/verify",
  tags,
  summary: "Is this customer reachable on that platform?",
  description: "Telegram: the linked chat, or a new deep link for the customer. X: a handle " +
    "lookup. Facebook: a page-scoped id lookup, only when one is given. LinkedIn: not " +
    "answerable (the API has no member lookup), said so rather than guessed. WeChat: 501.",
  ...signedIn,
  request: { body: jsonBody(VerifyRequestSchema) },
  responses: {
    200: json("The answer", VerifyAnswerSchema),
    ...commonProblems,
    403: problem("Only desk members verify"),
    404: problem("No such customer, or you may not see them"),
    409: problem("The platform is not connected"),
    501: notImplemented,
    502: problem("The platform failed"),
    503: unavailable,
  },
});

/** DELETE /integrations/social-media/{platform}. */
export const disconnectSocial = createRoute({
  operationId: "disconnectSocialMedia",
  method: "delete",
  path: "/integrations/social-media/{platform}",
  tags,
  summary: "Disconnect a platform (admins): revoke at the platform, delete the tokens",
  ...signedIn,
  request: {
    params: z.object({
      platform: SocialPlatformSchema.openapi({ param: { name: "platform", in: "path" } }),
    }),
  },
  responses: {
    200: json("The connection, disconnected", DisconnectAnswerSchema),
    ...commonProblems,
    403: problem("Only admins disconnect platforms"),
    404: problem("The platform was never connected"),
    501: notImplemented,
    503: unavailable,
  },
});

export const StaffLinkAnswerSchema = z.object({
  deep_link: z.url().openapi({
    description: "https://t.me/<bot>?start=<token>: the admin opens it in Telegram and presses " +
      "Start; their chat is linked and gets the alerts sent to admins (beside the email). " +
      "Single use; a /stop in that chat unlinks it",
    example: "https://t.me/py360_bot?start=Qm9vbXNoYWthbGFrYTEyMw",
  }),
  expires_at: DateTime.openapi({ description: "The link stops working after this (7 days)" }),
}).openapi("TelegramStaffLink");

/** POST /integrations/social-media/telegram/staff-link. */
export const telegramStaffLinkRoute = createRoute({
  operationId: "createTelegramStaffLink",
  method: "post",
  path: "/integrations/social-media/telegram/staff-link",
  tags,
  summary: "A deep link to get alerts in your own Telegram chat (admins)",
  description: "A fresh single-use deep link (7 days) for the calling admin: opening it and " +
    "pressing Start links their Telegram chat, where the alerts sent to admins then go beside " +
    "the email. Each call draws a new link. 409 while the bot is not connected.",
  ...signedIn,
  responses: {
    200: json("The admin's deep link", StaffLinkAnswerSchema),
    ...commonProblems,
    403: problem("Only admins link a chat for alerts"),
    409: problem("Telegram is not connected: an admin connects the bot first"),
  },
});
