// Telegram Bot API with fetch: POST {TELEGRAM_BASE_URL}/bot<token>/sendMessage, JSON (VENDORS.md
// §7). The address is the chat id a customer (or an admin) linked through the bot's deep link
// (public.customer_social_accounts). Errors come as {ok:false, error_code, description,
// parameters?}: error_code echoes the HTTP status and the description says which case it is.
// The Bot API has no delivery receipts: a message is `sent` once Telegram took it.
import { classifyError, httpFailure, invalidMessage, invalidResponse } from "./classify.ts";
import { maxRetryAfterMs, parseJsonObject, retryAfterMs, withDeadline } from "./http.ts";
import type { ErrorTable, OutboundMessage, Provider, SendResult } from "./types.ts";

/** The longest text sendMessage takes (characters, after entity parsing; we send plain text). */
export const telegramMaxText = 4096;

/**
 * Bot API errors by error_code (the HTTP status), refined by the description:
 * - 429 "Too Many Requests: retry after N": transient, pacing us; the wait is
 *   parameters.retry_after (seconds), which the provider passes on.
 * - 403 "Forbidden: bot was blocked by the user" (also "user is deactivated", "bot can't
 *   initiate conversation with a user", "bot was kicked"): permanent, and the chat is dead to us
 *   until the user starts the bot again (suppressed; a new /start lifts it).
 * - 400 "Bad Request: chat not found" and other bad requests: permanent, not suppressed (the
 *   chat id may be ours to fix).
 * - 401 "Unauthorized", 404 "Not Found": the bot token is wrong or revoked: fallback (the
 *   channel has none, so the message fails with the reason instead of being retried).
 * - 5xx: transient.
 */
export const telegramErrors: ErrorTable = {
  "429": {
    disposition: "transient",
    throttled: true,
    reason: "too many requests (about 1 message/s per chat, 30/s overall)",
  },
  "403": {
    disposition: "permanent",
    addressDead: true,
    reason: "the user cannot be reached by the bot",
    byMessage: [{
      pattern: /blocked by the user/i,
      rule: {
        disposition: "permanent",
        addressDead: true,
        reason: "the user blocked the bot",
      },
    }],
  },
  "400": {
    disposition: "permanent",
    reason: "bad request",
    byMessage: [{
      pattern: /chat not found/i,
      rule: { disposition: "permanent", reason: "chat not found (never started, or deleted)" },
    }],
  },
  "401": { disposition: "fallback", reason: "bot token refused (revoked or wrong)" },
  "404": { disposition: "fallback", reason: "bot token or method not found" },
  "409": { disposition: "transient", reason: "conflict (another webhook or poller)" },
  "500": { disposition: "transient", reason: "Telegram server error" },
  "502": { disposition: "transient", reason: "Telegram bad gateway" },
  "503": { disposition: "transient", reason: "Telegram unavailable" },
};

/** What the Telegram provider needs. `baseUrl` is TELEGRAM_BASE_URL (https://api.telegram.org). */
export interface TelegramBotOptions {
  botToken: string;
  baseUrl: string;
  /** Deadline of one send, in milliseconds. */
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** The URL of a Bot API method; it carries the token, so it is never logged. */
export function telegramMethodUrl(baseUrl: string, botToken: string, method: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/bot${botToken}/${method}`;
}

/**
 * `text` with the bot token taken out: Deno's fetch errors quote the URL, which carries the
 * token (`/bot<id>:<secret>/`), and such text ends in messages.last_error and logs.
 */
export function scrubBotToken(text: string, botToken?: string): string {
  const scrubbed = botToken ? text.replaceAll(botToken, "[redacted]") : text;
  return scrubbed.replace(/bot\d+:[A-Za-z0-9_-]+/g, "bot[redacted]");
}

/** The chat id as the Bot API takes it: an integer (negative for groups), else undefined. */
export function telegramChatId(to: string): number | undefined {
  if (!/^-?\d{1,20}$/.test(to)) return undefined;
  const id = Number(to);
  return Number.isSafeInteger(id) && id !== 0 ? id : undefined;
}

/** The Telegram Bot API provider (vendor code `telegram`); failures go through telegramErrors. */
export function telegramBotProvider(options: TelegramBotOptions): Provider {
  const doFetch = options.fetch ?? fetch;
  const endpoint = telegramMethodUrl(options.baseUrl, options.botToken, "sendMessage");

  async function send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    if (message.channel !== "telegram") {
      return invalidMessage(`telegram sends telegram, not ${message.channel}`);
    }
    const chatId = telegramChatId(message.to);
    if (chatId === undefined) return invalidMessage("a Telegram message needs a chat id");
    const text = message.body ?? "";
    if (text.trim() === "") return invalidMessage("a Telegram message needs text");
    if (text.length > telegramMaxText) {
      return invalidMessage(`a Telegram message is at most ${telegramMaxText} characters`);
    }
    const result = await withDeadline("telegram", options.timeoutMs, signal, async (deadline) => {
      const response = await doFetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          chat_id: chatId,
          text,
          link_preview_options: { is_disabled: true },
        }),
        signal: deadline,
      });
      const body = await response.text();
      const json = parseJsonObject(body);
      if (response.ok && json?.ok === true) {
        const result = json.result as { message_id?: unknown; chat?: { id?: unknown } } | undefined;
        return typeof result?.message_id === "number"
          ? { ok: true, providerMessageId: `${result.chat?.id ?? chatId}:${result.message_id}` }
          : invalidResponse("telegram", body);
      }
      const code = json?.error_code;
      const description = typeof json?.description === "string" ? json.description : "";
      const parameters = json?.parameters as { retry_after?: unknown } | undefined;
      const wait = typeof parameters?.retry_after === "number" && parameters.retry_after >= 0
        ? Math.min(parameters.retry_after * 1000, maxRetryAfterMs)
        : retryAfterMs(response.headers);
      if (typeof code === "number" || typeof code === "string") {
        return classifyError(telegramErrors, String(code), description, wait);
      }
      return httpFailure(response.status, body, wait);
    });
    return result.ok
      ? result
      : { ...result, message: scrubBotToken(result.message, options.botToken) };
  }

  return { code: "telegram", channel: "telegram", send };
}
