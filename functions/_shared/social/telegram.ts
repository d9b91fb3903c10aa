// Telegram as a connected platform (issue 12): the bot (TELEGRAM_BOT_TOKEN) is connected by
// registering its webhook with a fresh secret_token, which is stored encrypted
// (private.social_tokens.webhook_secret) and checked on every update; customers link themselves
// through a deep link `https://t.me/<bot>?start=<token>` (a single-use 7-day token, stored as
// its sha256); disconnecting deletes the webhook and the tokens. The integrations API's handlers
// call connectTelegram, verifyTelegram and disconnectTelegram; the webhook calls
// telegramWebhookSecrets and replyInTelegram. A reconnect keeps the replaced secret accepted for
// TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS (its SHA-256 only, private.keep_previous_webhook_secret).
// The bot token and the secrets are never returned, logged or put in an error.
import { type Config, config as processConfig } from "../config.ts";
import { asCaller, asService, type Claims, type Tx } from "../db.ts";
import { ProblemError } from "../errors.ts";
import { log } from "../log.ts";
import { scrubBotToken, telegramMethodUrl } from "../providers/telegram_bot.ts";
import { currentKeyId, decryptToken, encryptToken } from "./crypto.ts";

/** Seams for tests: the configuration and the fetch the Bot API calls use. */
export interface TelegramDeps {
  config?: () => Config;
  fetch?: typeof fetch;
}

/** What connectTelegram registered: the bot and the webhook URL (never the secret). */
export interface TelegramConnected {
  bot: { id: number; username: string; first_name: string };
  webhook_url: string;
}

/** verifyTelegram's answer (the API adds platform and customer_id). */
export interface TelegramVerification {
  /** Telegram can answer for a customer: always true once the bot is connected. */
  answerable: boolean;
  /** Linked, with the telegram service consent not withdrawn (STOP): reminders can reach them.
   * (Marketing needs its own granted consent, which a link never gives.) */
  reachable: boolean | null;
  /** The linked chat, when there is one. */
  account?: {
    chat_id: string;
    username: string | null;
    linked_at: string;
    verified_at: string | null;
  };
  /** Not linked (or stopped): the invitation queued to the customer carrying their deep link
   * (at most one a day per customer); null when none could be queued (see reason). The link
   * itself goes to the customer only, never in this answer. */
  invited?: TelegramInvite | null;
  reason?: string;
}

/** The telegram_invite message queued to a customer (public.messages). */
export interface TelegramInvite {
  message_id: string;
  /** The channel it goes by: email, or sms for a customer without an email address. */
  channel: string;
  /** The message's status: queued, or blocked (blocked_reason says why). */
  status: string;
  blocked_reason: string | null;
}

/** The Bot API's answer to one method call. */
interface BotAnswer {
  status: number;
  ok: boolean;
  result?: unknown;
  description?: string;
}

/** The bot token from the configuration, or a 503 naming the variable. */
function botToken(cfg: Config): string {
  if (!cfg.TELEGRAM_BOT_TOKEN) {
    throw new ProblemError(
      503,
      "Service Unavailable",
      "Telegram is not configured on this server: set TELEGRAM_BOT_TOKEN.",
      { platform: "telegram" },
    );
  }
  return cfg.TELEGRAM_BOT_TOKEN;
}

/**
 * Calls a Bot API method with a JSON body under PROVIDER_TIMEOUT_MS. Resolves with Telegram's
 * answer for any HTTP reply; throws a 502 ProblemError (naming the method, never the URL, which
 * holds the token) when Telegram cannot be reached.
 */
async function callBot(
  cfg: Config,
  method: string,
  body: Record<string, unknown> | undefined,
  doFetch: typeof fetch,
): Promise<BotAnswer> {
  const token = botToken(cfg);
  let response: Response;
  try {
    response = await doFetch(telegramMethodUrl(cfg.TELEGRAM_BASE_URL, token, method), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body ?? {}),
      signal: AbortSignal.timeout(cfg.PROVIDER_TIMEOUT_MS),
    });
  } catch (error) {
    log("warn", "telegram: call failed", {
      method,
      error: scrubBotToken(String((error as Error)?.message ?? error), token),
    });
    throw new ProblemError(502, "Bad Gateway", `Telegram ${method}: no answer.`, {
      platform: "telegram",
    });
  }
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    const value = JSON.parse(text);
    if (value && typeof value === "object" && !Array.isArray(value)) parsed = value;
  } catch {
    // Not JSON: a proxy's page; reported by status below.
  }
  return {
    status: response.status,
    ok: response.ok && parsed.ok === true,
    result: parsed.result,
    description: typeof parsed.description === "string"
      ? scrubBotToken(parsed.description, token)
      : undefined,
  };
}

/** A 502 for a method Telegram refused, with its words. */
function refused(method: string, answer: BotAnswer): ProblemError {
  return new ProblemError(
    502,
    "Bad Gateway",
    `Telegram ${method} refused: ${answer.description ?? `HTTP ${answer.status}`}.`,
    { platform: "telegram" },
  );
}

/** A fresh webhook secret: 32 random bytes as base64url (43 of Telegram's [A-Za-z0-9_-]). */
export function newWebhookSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** Where Telegram posts the bot's updates: `${publicFunctionsUrl}/webhooks/telegram`. */
export function telegramWebhookUrl(cfg: Config): string {
  return `${cfg.publicFunctionsUrl.replace(/\/+$/, "")}/webhooks/telegram`;
}

/**
 * Connects the bot: getMe (the bot's id and username), a fresh secret stored encrypted with the
 * connection (private.save_social_connection: account_id the bot id, account_name @username,
 * connected_by `adminId`), then setWebhook {url: ${publicFunctionsUrl}/webhooks/telegram,
 * secret_token, allowed_updates: [message, my_chat_member]} (messages, and users blocking or
 * unblocking the bot). The secret is stored before the webhook is set, so
 * no update signed with it is refused; if setWebhook fails, the connection is marked error with
 * Telegram's words and a 502 is thrown. Throws 503 without TELEGRAM_BOT_TOKEN or the encryption
 * key, 502 when Telegram refuses getMe (a wrong token) or cannot be reached.
 */
export async function connectTelegram(
  adminId?: string | null,
  deps: TelegramDeps = {},
): Promise<TelegramConnected> {
  const cfg = (deps.config ?? processConfig)();
  const doFetch = deps.fetch ?? fetch;
  botToken(cfg);
  const me = await callBot(cfg, "getMe", undefined, doFetch);
  const bot = me.result as { id?: unknown; username?: unknown; first_name?: unknown } | undefined;
  if (!me.ok || typeof bot?.id !== "number" || typeof bot.username !== "string") {
    throw refused("getMe", me);
  }
  const secret = newWebhookSecret();
  const sealed = await encryptToken("telegram", "webhook_secret", secret);
  const keyId = await currentKeyId();
  // A reconnect: the secret replaced stays accepted for TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS
  // (kept as its SHA-256), for the updates Telegram sends before it takes the new one.
  const replaced = await telegramWebhookSecret().catch(() => null);
  const overlap = cfg.TELEGRAM_WEBHOOK_SECRET_OVERLAP_SECONDS;
  const previous = replaced !== null && overlap > 0 ? await sha256Hex(replaced) : null;
  const until = previous === null ? null : new Date(Date.now() + overlap * 1000);
  await asService(async (tx) => {
    await tx`select 1 from private.save_social_connection('telegram', ${String(bot.id)},
         ${`@${bot.username}`}, '{}'::text[], null, null,
         ${tx.json({ webhook_secret: sealed })}::jsonb, ${keyId}, ${adminId ?? null}::uuid)`;
    await tx`select private.keep_previous_webhook_secret('telegram', ${previous}, ${until})`;
  });
  const url = telegramWebhookUrl(cfg);
  const set = await callBot(cfg, "setWebhook", {
    url,
    secret_token: secret,
    allowed_updates: ["message", "my_chat_member"],
  }, doFetch);
  if (!set.ok) {
    const error = refused("setWebhook", set);
    await asService((tx) =>
      tx`select 1 from private.record_social_error('telegram', ${error.detail ?? "setWebhook"})`
    );
    throw error;
  }
  return {
    bot: {
      id: bot.id,
      username: bot.username,
      first_name: typeof bot.first_name === "string" ? bot.first_name : bot.username,
    },
    webhook_url: url,
  };
}

/** Lowercase hex SHA-256 of a text's UTF-8 bytes. */
export async function sha256Hex(text: string): Promise<string> {
  const bytes = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The webhook secrets a connected bot accepts now. */
export interface TelegramWebhookSecrets {
  /** The current secret, decrypted. */
  current: string;
  /** The SHA-256 (hex) of the secret a reconnect replaced, while its window lasts; else null. */
  previousSha256: string | null;
}

/**
 * The webhook secrets of a connected bot (one query): the current one decrypted and, within its
 * window, the previous one's digest; null when Telegram is not connected (never connected,
 * disconnected) or no secret is stored. Throws 503 when the encryption key is missing,
 * TokenCryptoError when the stored secret does not decrypt.
 */
export async function telegramWebhookSecrets(): Promise<TelegramWebhookSecrets | null> {
  const [row] = await asService((tx) =>
    tx<{
      status: string;
      tokens: { webhook_secret?: string } | null;
      key_id: string | null;
      previous: string | null;
    }[]>`
      select c.status, t.tokens, t.key_id,
             private.previous_webhook_secret('telegram') as previous
        from public.social_connections c
        left join private.social_token('telegram') t on true
       where c.platform = 'telegram'`
  );
  if (!row || row.status === "disconnected" || !row.tokens?.webhook_secret || !row.key_id) {
    return null;
  }
  const current = await decryptToken(
    "telegram",
    "webhook_secret",
    row.tokens.webhook_secret,
    row.key_id,
  );
  return { current, previousSha256: row.previous };
}

/**
 * The stored webhook secret of a connected bot, decrypted; null when Telegram is not connected
 * (never connected, disconnected) or no secret is stored. Throws 503 when the encryption key is
 * missing, TokenCryptoError when the stored secret does not decrypt.
 */
export async function telegramWebhookSecret(): Promise<string | null> {
  return (await telegramWebhookSecrets())?.current ?? null;
}

/** The bot's username from the connection (account_name `@name`), or null when not connected. */
async function botUsername(): Promise<string | null> {
  const [row] = await asService((tx) =>
    tx<{ status: string; account_name: string | null }[]>`
      select status, account_name from public.social_connections where platform = 'telegram'`
  );
  if (!row || row.status === "disconnected" || !row.account_name) return null;
  return row.account_name.replace(/^@/, "");
}

/**
 * Whether a customer can be reached on Telegram, as `claims` (the desk user; RLS and the token
 * function check they see the customer: 404 otherwise; service_role when absent):
 * - bot not connected: answerable false, with the reason;
 * - linked: reachable, with the chat;
 * - linked but stopped (STOP withdrew the service consent), or not linked: reachable false and
 *   `invited`, the telegram_invite message queued to the customer (email, else SMS) carrying a new deep
 *   link (https://t.me/<bot>?start=<token>, 7 days, single use; at most one a day), or null /
 *   blocked with the reason. The link never appears in the answer: only the customer gets it.
 */
export async function verifyTelegram(
  customerId: string,
  claims: Claims = { role: "service_role" },
): Promise<TelegramVerification> {
  const username = await botUsername();
  if (!username) {
    return {
      answerable: false,
      reachable: null,
      reason: "Telegram is not connected: an admin connects the bot first.",
    };
  }
  return await asCaller(claims, async (tx) => {
    const [linked] = await tx<
      {
        external_id: string;
        handle: string | null;
        linked_at: Date;
        verified_at: Date | null;
        withdrawn: boolean;
      }[]
    >`
      select sa.external_id, sa.handle, sa.linked_at, sa.verified_at,
             exists (select 1 from public.consents c
                      where c.customer_id = sa.customer_id and c.channel = 'telegram'
                        and c.purpose = 'service' and c.status = 'withdrawn') as withdrawn
        from public.customer_social_accounts sa
       where sa.customer_id = ${customerId}::uuid and sa.platform = 'telegram'`;
    const account = linked && {
      chat_id: linked.external_id,
      username: linked.handle,
      linked_at: linked.linked_at.toISOString(),
      verified_at: linked.verified_at?.toISOString() ?? null,
    };
    if (linked && !linked.withdrawn) return { answerable: true, reachable: true, account };
    // Not linked, or linked and stopped: a new link is the way (back) in, sent to the customer.
    const invited = await inviteToTelegram(tx, customerId, username, linked?.linked_at);
    const why = linked
      ? "The customer sent STOP to the bot: Telegram consent is withdrawn."
      : "The customer has not linked Telegram.";
    return {
      answerable: true,
      reachable: false,
      ...(account ? { account } : {}),
      invited,
      reason: invited && invited.status !== "blocked"
        ? `${why} An invitation with their own link (single use, 7 days) is on its way to ` +
          `them by ${invited.channel}; opening it and pressing Start links their chat.`
        : `${why} No invitation could be sent: ${
          invited?.blocked_reason ?? "it could not be queued"
        }.`,
    };
  });
}

/**
 * Queues the telegram_invite message (by email where the customer has an address, else SMS;
 * variables customer_name, telegram_link = https://t.me/<bot>?start=<token>, telegram_bot,
 * telegram_token) to the customer through the outbound pipeline, at most one a day (IST) per
 * customer (and another after a STOP): a second verify that day answers the same
 * message and draws no token.
 * The token is drawn in `tx` (the caller's: 404 for a customer they cannot see); the message is
 * queued as service_role (private.enqueue_messages; the gate decides consent and address).
 */
async function inviteToTelegram(
  tx: Tx,
  customerId: string,
  username: string,
  linkedAt?: Date,
): Promise<TelegramInvite | null> {
  // One a day; a stopped customer's way back is another invitation than their first one.
  const again = linkedAt ? `:relink:${linkedAt.getTime()}` : "";
  const key = await asService(async (svc) => {
    const [{ key }] = await svc<{ key: string }[]>`
      select 'telegram_invite:' || ${customerId}::uuid || ':' ||
             to_char(now() at time zone 'Asia/Kolkata', 'YYYY-MM-DD') || ${again}::text as key`;
    return key;
  });
  const earlier = await queuedInvite(key);
  if (earlier) return earlier;
  const [made] = await tx<{ token: string }[]>`
    select token from private.create_telegram_link_token(${customerId}::uuid)`;
  return await asService(async (svc) => {
    // By email where the customer has one, else by SMS (the gate blocks one with neither).
    const [queued] = await svc<{ message_id: string | null }[]>`
      select q.message_id
        from public.customers c
       cross join lateral private.enqueue_messages(jsonb_build_object(
         'customer_id', c.id,
         'channel', case when c.email is not null then 'email' else 'sms' end,
         'template_code', 'telegram_invite', 'priority', 0, 'idempotency_key', ${key}::text,
         'variables', jsonb_build_object(
           'customer_name', c.full_name,
           'telegram_link', ${`https://t.me/${username}?start=${made.token}`}::text,
           'telegram_bot', ${username}::text, 'telegram_token', ${made.token}::text))) q
       where c.id = ${customerId}::uuid`;
    return queued?.message_id ? await queuedInvite(key, svc) : null;
  });
}

/** The invitation queued under idempotency `key`, or null. */
async function queuedInvite(key: string, svc?: Tx): Promise<TelegramInvite | null> {
  const read = (t: Tx) =>
    t<TelegramInvite[]>`
      select id as message_id, channel::text, status::text, blocked_reason
        from public.messages where idempotency_key = ${key}`;
  const [row] = svc ? await read(svc) : await asService(read);
  return row ?? null;
}

/**
 * A deep link for an admin to link their own chat and get alerts by Telegram (notify_admins
 * sends them beside the email), as `claims` (the admin: the token function refuses anyone else
 * with 42501 → 403, and a non-admin likewise). Throws 409 when the bot is not connected.
 */
export async function telegramStaffLink(
  claims: Claims,
): Promise<{ deep_link: string; expires_at: string }> {
  const username = await botUsername();
  if (!username) {
    throw new ProblemError(409, "Conflict", "Telegram is not connected: connect the bot first.", {
      platform: "telegram",
    });
  }
  const [made] = await asCaller(claims, (tx) =>
    tx<{ token: string; expires_at: Date }[]>`
      select token, expires_at
        from private.create_telegram_link_token(null, ${claims.sub as string}::uuid)`);
  return {
    deep_link: `https://t.me/${username}?start=${made.token}`,
    expires_at: made.expires_at.toISOString(),
  };
}

/**
 * Disconnects the bot: deleteWebhook at Telegram (its failure is reported, not fatal), then the
 * stored secret deleted and the connection marked disconnected (private.disconnect_social: 404
 * when Telegram was never connected) and every unused deep-link token revoked. Linked chats stay
 * for a later reconnection.
 */
export async function disconnectTelegram(
  deps: TelegramDeps = {},
): Promise<{ revoked: boolean; revoke_error?: string }> {
  const cfg = (deps.config ?? processConfig)();
  let revokeError: string | undefined;
  if (!cfg.TELEGRAM_BOT_TOKEN) {
    revokeError = "TELEGRAM_BOT_TOKEN is not set: the webhook could not be deleted at Telegram.";
  } else {
    try {
      const answer = await callBot(cfg, "deleteWebhook", {}, deps.fetch ?? fetch);
      if (!answer.ok) revokeError = refused("deleteWebhook", answer).detail;
    } catch (error) {
      revokeError = error instanceof ProblemError ? error.detail : "Telegram deleteWebhook failed.";
    }
  }
  await asService(async (tx) => {
    await tx`select 1 from private.disconnect_social('telegram')`;
    await tx`select private.delete_telegram_link_tokens()`;
  });
  return revokeError ? { revoked: false, revoke_error: revokeError } : { revoked: true };
}

/**
 * Sends `text` to a chat directly (not through the outbox): the webhook's answer to a /start or a
 * STOP, which the user expects at once and which is about the link itself. Best effort: a
 * failure is logged and swallowed. Resolves true when Telegram took it.
 */
export async function replyInTelegram(
  cfg: Config,
  chatId: number,
  text: string,
  doFetch: typeof fetch = fetch,
): Promise<boolean> {
  if (!cfg.TELEGRAM_BOT_TOKEN) return false;
  try {
    const answer = await callBot(cfg, "sendMessage", { chat_id: chatId, text }, doFetch);
    if (!answer.ok) {
      log("warn", "telegram: reply refused", { status: answer.status, error: answer.description });
    }
    return answer.ok;
  } catch {
    return false;
  }
}
