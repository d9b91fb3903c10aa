// Handlers of /api/integrations/social-media. Who may act is checked under the caller's role
// (private.is_admin / is_desk_member; the customer through RLS); the connections are read under
// RLS too, while tokens are read and written only as service_role inside
// functions/_shared/social/. No answer carries a token.
import type { RouteHandler, z } from "@hono/zod-openapi";
import type { AppEnv } from "../../_shared/app.ts";
import { config, type VendorName } from "../../_shared/config.ts";
import { asCaller, asService, type Claims } from "../../_shared/db.ts";
import { notFound, ProblemError } from "../../_shared/errors.ts";
import {
  connectionColumns,
  disconnectOAuth,
  type SocialConnection,
  startConnect,
  storedTokens,
} from "../../_shared/social/connections.ts";
import { facebookLookup } from "../../_shared/social/facebook.ts";
import type { OAuthPlatform } from "../../_shared/social/http.ts";
import { linkedinCannotAnswer } from "../../_shared/social/linkedin.ts";
import { xLookup } from "../../_shared/social/x.ts";
import { telegramApi } from "./telegram.ts";
import type {
  connectSocial,
  disconnectSocial,
  SocialConnectionSchema,
  socialStatus,
  telegramStaffLinkRoute,
  VerifyAnswerSchema,
  verifySocial,
} from "./routes.ts";

type ConnectionOut = z.infer<typeof SocialConnectionSchema>;
type VerifyAnswer = z.infer<typeof VerifyAnswerSchema>;

/** The platforms a status lists, in order. */
const listed = ["facebook", "x", "linkedin", "telegram", "wechat"] as const;

/** What a regional WeChat implementation needs; the 501's detail. */
export const wechatMissing =
  "WeChat is not implemented: the specification requires a regional implementation. It needs " +
  "a WeChat Official Account (a verified Service Account) registered through a mainland China " +
  "entity or a WeChat-approved partner, its AppID and AppSecret, a server in a region WeChat " +
  "accepts for the message push URL (token-signed callbacks), the access_token cache it " +
  "requires, and customers' OpenIDs, which exist only once they follow the account.";

const notImplemented = () =>
  new ProblemError(501, "Not Implemented", wechatMissing, { platform: "wechat" });

/** 403 unless the caller is an admin. */
async function requireAdmin(claims: Claims, what: string): Promise<void> {
  const [row] = await asCaller(
    claims,
    (tx) => tx<{ admin: boolean }[]>`select coalesce(private.is_admin(), false) as admin`,
  );
  if (!row.admin) throw new ProblemError(403, "Forbidden", `Only admins ${what}.`);
}

/** 403 unless the caller is a desk member (admin, manager, agent). */
async function requireDesk(claims: Claims, what: string): Promise<void> {
  const [row] = await asCaller(
    claims,
    (tx) => tx<{ desk: boolean }[]>`select coalesce(private.is_desk_member(), false) as desk`,
  );
  if (!row.desk) throw new ProblemError(403, "Forbidden", `Only desk members ${what}.`);
}

const iso = (value: Date | string | null) => value === null ? null : new Date(value).toISOString();

/** A connection row (or its absence) as the API shows it. */
export function connectionOut(
  platform: (typeof listed)[number],
  row: SocialConnection | undefined,
): ConnectionOut {
  const vendor = config().vendors[platform as VendorName];
  const configured = platform === "wechat" ? false : vendor?.enabled ?? false;
  return {
    platform,
    status: platform === "wechat"
      ? "not_implemented"
      : (row?.status ?? "not_connected") as ConnectionOut["status"],
    configured,
    account_id: row?.account_id ?? null,
    account_name: row?.account_name ?? null,
    scopes: row?.scopes ?? [],
    expires_at: iso(row?.expires_at ?? null),
    refresh_expires_at: iso(row?.refresh_expires_at ?? null),
    last_refreshed_at: iso(row?.last_refreshed_at ?? null),
    last_error: row?.last_error ?? null,
    last_error_at: iso(row?.last_error_at ?? null),
    connected_at: iso(row?.connected_at ?? null),
    ...(platform === "wechat"
      ? { detail: wechatMissing }
      : vendor && !vendor.enabled
      ? { detail: `${platform} is ${vendor.reason}` }
      : {}),
  };
}

/** POST /integrations/social-media/connect (admins). */
export const connect: RouteHandler<typeof connectSocial, AppEnv> = async (c) => {
  const { platform } = c.req.valid("json");
  const claims = c.get("claims");
  await requireAdmin(claims, "connect social platforms");
  if (platform === "wechat") throw notImplemented();
  if (platform === "telegram") {
    const connection = await (await telegramApi()).connectTelegram(claims.sub as string);
    return c.json(connectionOut("telegram", connection), 200);
  }
  const started = await startConnect(platform, claims.sub as string);
  return c.json({
    platform,
    authorization_url: started.authorization_url,
    expires_at: started.expires_at.toISOString(),
  }, 200);
};

/** GET /integrations/social-media/status (desk members). */
export const status: RouteHandler<typeof socialStatus, AppEnv> = async (c) => {
  const claims = c.get("claims");
  await requireDesk(claims, "read the social platforms' status");
  const rows = await asCaller(
    claims,
    (tx) => tx<SocialConnection[]>`select ${connectionColumns(tx)} from public.social_connections`,
  );
  const data = listed.map((platform) =>
    connectionOut(platform, rows.find((r) => r.platform === platform))
  );
  return c.json({ data }, 200);
};

/** The decrypted access token of a connected platform, or 409 when it is not connected. */
async function accessToken(platform: OAuthPlatform): Promise<string> {
  const tokens = await asService(async (tx) => {
    const [row] = await tx<{ status: string }[]>`
      select status from public.social_connections where platform = ${platform}`;
    return row && row.status !== "disconnected" ? await storedTokens(tx, platform) : null;
  });
  if (!tokens) {
    throw new ProblemError(
      409,
      "Conflict",
      `${platform} is not connected: an admin connects it first.`,
      {
        platform,
      },
    );
  }
  return tokens.accessToken;
}

/** POST /integrations/social-media/verify (desk members, for customers they see). */
export const verify: RouteHandler<typeof verifySocial, AppEnv> = async (c) => {
  const body = c.req.valid("json");
  const claims = c.get("claims");
  await requireDesk(claims, "verify customers on social platforms");
  const [customer] = await asCaller(
    claims,
    (tx) => tx<{ id: string }[]>`select id from public.customers where id = ${body.customer_id}`,
  );
  if (!customer) throw notFound("customer");
  if (body.platform === "wechat") throw notImplemented();
  const base = { platform: body.platform, customer_id: body.customer_id };
  let answer: VerifyAnswer;
  if (body.platform === "telegram") {
    const result = await (await telegramApi()).verifyTelegram(body.customer_id, claims);
    answer = { ...base, ...result };
  } else if (body.platform === "linkedin") {
    answer = { ...base, answerable: false, reachable: null, reason: linkedinCannotAnswer };
  } else if (body.platform === "facebook") {
    if (!body.page_scoped_id) {
      answer = {
        ...base,
        answerable: false,
        reachable: null,
        reason: "Facebook gives a person's page-scoped id only once they message the page; " +
          "without one, Graph offers no lookup of people by name, phone or email.",
      };
    } else {
      const found = await facebookLookup(await accessToken("facebook"), body.page_scoped_id);
      answer = {
        ...base,
        answerable: true,
        reachable: found !== null,
        ...(found ? { account: { id: found.id, name: found.name } } : {
          reason: "Graph does not know this page-scoped id to our page.",
        }),
      };
    }
  } else {
    if (!body.handle) {
      throw new ProblemError(422, "Unprocessable Content", "X: give the customer's handle.", {
        errors: [{ path: "handle", code: "required", message: "required for x" }],
      });
    }
    const found = await xLookup(await accessToken("x"), body.handle);
    answer = {
      ...base,
      answerable: true,
      reachable: found !== null,
      ...(found ? { account: { id: found.id, name: found.name, username: found.username } } : {
        reason: `X has no user @${body.handle.replace(/^@/, "")}.`,
      }),
    };
  }
  return c.json(answer, 200);
};

/** DELETE /integrations/social-media/{platform} (admins). */
export const disconnect: RouteHandler<typeof disconnectSocial, AppEnv> = async (c) => {
  const { platform } = c.req.valid("param");
  const claims = c.get("claims");
  await requireAdmin(claims, "disconnect social platforms");
  if (platform === "wechat") throw notImplemented();
  const result = platform === "telegram"
    ? await (await telegramApi()).disconnectTelegram()
    : await disconnectOAuth(platform);
  return c.json({
    connection: connectionOut(platform, result.connection),
    revoked: result.revoked,
    ...(result.revoke_error ? { revoke_error: result.revoke_error } : {}),
  }, 200);
};

/** POST /integrations/social-media/telegram/staff-link (admins): a deep link to the caller's
 * own chat for alerts, {deep_link, expires_at}; 403 for anyone else (asked before the bot's
 * state, so a non-admin learns nothing of it), 409 while the bot is not connected. */
export const staffLink: RouteHandler<typeof telegramStaffLinkRoute, AppEnv> = async (c) => {
  const claims = c.get("claims");
  await requireAdmin(claims, "link a chat for alerts");
  return c.json(await (await telegramApi()).staffLink(claims), 200);
};
