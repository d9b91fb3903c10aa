// The Telegram Bot API, as the sandbox plays it (VENDORS.md §7): /telegram/bot<token>/<method>
// for getMe, setWebhook, deleteWebhook, getWebhookInfo, sendMessage and sendDocument, called with
// GET query fields, a JSON body, a form or multipart; answers `{ok:true, result}` or Telegram's
// error envelope `{ok:false, error_code, description, parameters?}` whose description opens with
// the HTTP status's words ("Bad Request: chat not found", "Forbidden: bot was blocked by the
// user", "Too Many Requests: retry after N" with parameters.retry_after). A wrong token answers
// 401 "Unauthorized". Chats exist once a user has written to the bot (the control API plays
// users) or the control API declares them; the control API can mark a chat as having blocked the
// bot. Updates go to the registered webhook as JSON with X-Telegram-Bot-Api-Secret-Token when a
// secret_token was set (a wrong or missing secret can be played too).
//
// setWebhook's URL rules are Telegram's (HTTPS, ports 443, 80, 88 or 8443), except for loopback
// hosts (127.0.0.1, ::1, localhost), which are accepted over HTTP on any port, as a self-hosted
// Bot API server started with --local accepts them: the functions under test listen there.

import { json, parseForm } from "./http.ts";
import { sleep, type VendorState } from "./state.ts";
import type { SandboxContext } from "./types.ts";

/** The bot the sandbox plays (getMe). The id is the token's numeric prefix. */
export const telegramBotUsername = "py360_sandbox_bot";

/** A chat the sandbox knows: a private chat with a user who wrote to the bot. */
export interface TelegramChat {
  id: number;
  first_name: string;
  username?: string;
  /** The user blocked the bot: sends answer 403. */
  blocked: boolean;
  /** The last message_id used in this chat (ours and the user's share the sequence). */
  lastMessageId: number;
}

/** The registered webhook (setWebhook), as the inspection API shows it. */
export interface TelegramWebhook {
  url: string;
  /** The secret_token given to setWebhook, sent back in X-Telegram-Bot-Api-Secret-Token. */
  secretToken?: string;
  maxConnections: number;
  allowedUpdates?: string[];
  setAt: string;
}

/** One update the sandbox posted to the webhook, with the receiver's answer. */
export interface TelegramUpdateRecord {
  updateId: number;
  chatId: number;
  text: string;
  /** The header value sent, or null when none was sent. */
  secretSent: string | null;
  /** The receiver's HTTP status (0: no connection). */
  status: number;
}

/**
 * Plays a user blocking (`kicked`) or unblocking (`member`) the bot: the chat's blocked flag
 * follows, and Telegram's my_chat_member update goes to the webhook with the registered secret.
 */
export interface PlayedMembership {
  chatId: number;
  status: "kicked" | "member";
}

/** Options of a played user message (`POST /_control/telegram/message`). */
export interface PlayedMessage {
  chatId: number;
  text: string;
  firstName?: string;
  username?: string;
  /** Send this secret instead of the registered one. */
  secret?: string;
  /** Send no secret header at all. */
  omitSecret?: boolean;
  /** Reuse this update_id (a redelivery), instead of the next one. */
  updateId?: number;
}

/** Telegram's error envelope; `error_code` echoes the HTTP status. */
function telegramError(
  status: number,
  description: string,
  parameters?: Record<string, unknown>,
): Response {
  return json({
    ok: false,
    error_code: status,
    description,
    ...(parameters ? { parameters } : {}),
  }, status);
}

const badRequest = (what: string) => telegramError(400, `Bad Request: ${what}`);

/** True for a host the sandbox lets a webhook use over HTTP on any port. */
function isLoopback(hostname: string): boolean {
  return hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]";
}

/** The reason a setWebhook URL is refused, or null when Telegram (or a --local server) takes it. */
export function webhookUrlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "bad webhook: Failed to resolve host: Name or service not known";
  }
  if (isLoopback(url.hostname)) {
    return url.protocol === "http:" || url.protocol === "https:"
      ? null
      : "bad webhook: An HTTPS URL must be provided for webhook";
  }
  if (url.protocol !== "https:") return "bad webhook: An HTTPS URL must be provided for webhook";
  const port = url.port === "" ? "443" : url.port;
  if (!["443", "80", "88", "8443"].includes(port)) {
    return "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443";
  }
  return null;
}

/**
 * The Telegram Bot API vendor: the bot's methods, its chats and webhook, and the player of users
 * writing to the bot.
 */
export class TelegramVendor {
  chats = new Map<number, TelegramChat>();
  webhook: TelegramWebhook | null = null;
  updates: TelegramUpdateRecord[] = [];
  /** retry_after (seconds) of the 429s the faults give (control API; default 1). */
  retryAfterSeconds = 1;
  /** Telegram's update ids only grow; a random start keeps two sandboxes (test runs sharing a
   * database) from reusing each other's ids, and a reset keeps the sequence going. */
  private nextUpdateId = 100_000_000 + Math.floor(Math.random() * 1_000_000_000);

  constructor(private ctx: SandboxContext, private state: VendorState) {}

  /** Back to no chats, no webhook, no updates (update ids keep growing). */
  reset(): void {
    this.chats.clear();
    this.webhook = null;
    this.updates = [];
    this.retryAfterSeconds = 1;
  }

  /** The bot's numeric id: the part of the token before the colon. */
  private botId(): number {
    return Number(this.ctx.credentials.telegramBotToken.split(":")[0]) || 0;
  }

  /** Handles a request under /telegram; `path` is what follows the prefix. */
  async handle(request: Request, path: string): Promise<Response> {
    const match = path.match(/^\/bot([^/]+)\/([A-Za-z]+)$/);
    if (!match) return telegramError(404, "Not Found");
    // Telegram answers 401 for a token it does not know, before anything else.
    if (match[1] !== this.ctx.credentials.telegramBotToken) {
      return telegramError(401, "Unauthorized");
    }
    const faults = this.state.faults;
    if (faults.outage) return telegramError(502, "Bad Gateway");
    await sleep(faults.latencyMs);
    const params = await this.params(request);
    if (params instanceof Response) return params;
    switch (match[2].toLowerCase()) {
      case "getme":
        return this.ok(this.me());
      case "setwebhook":
        return this.setWebhook(params);
      case "deletewebhook":
        return this.deleteWebhook();
      case "getwebhookinfo":
        return this.ok({
          url: this.webhook?.url ?? "",
          has_custom_certificate: false,
          pending_update_count: 0,
          ...(this.webhook
            ? {
              max_connections: this.webhook.maxConnections,
              ip_address: "127.0.0.1",
              ...(this.webhook.allowedUpdates
                ? { allowed_updates: this.webhook.allowedUpdates }
                : {}),
            }
            : {}),
        });
      case "sendmessage":
        return this.send(params, "message");
      case "senddocument":
        return this.send(params, "document");
      default:
        return telegramError(404, "Not Found");
    }
  }

  private ok(result: unknown, description?: string): Response {
    return json({ ok: true, result, ...(description ? { description } : {}) });
  }

  private me() {
    return {
      id: this.botId(),
      is_bot: true,
      first_name: "Py360 Sandbox Bot",
      username: telegramBotUsername,
      can_join_groups: true,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
    };
  }

  /** The method's fields from the query string and a JSON, form or multipart body. */
  private async params(request: Request): Promise<Record<string, unknown> | Response> {
    const params: Record<string, unknown> = Object.fromEntries(new URL(request.url).searchParams);
    if (request.method !== "POST") return params;
    const type = request.headers.get("content-type") ?? "";
    if (type.includes("multipart/form-data")) {
      try {
        for (const [name, value] of await request.formData()) {
          params[name] = typeof value === "string"
            ? value
            : { file_name: value.name, mime_type: value.type, size: value.size };
        }
      } catch {
        return badRequest("invalid multipart body");
      }
      return params;
    }
    const text = await request.text();
    if (text.trim() === "") return params;
    if (type.includes("application/json")) {
      try {
        const body = JSON.parse(text);
        if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error();
        return { ...params, ...body };
      } catch {
        return badRequest("can't parse JSON object");
      }
    }
    for (const [name, value] of Object.entries(parseForm(text))) {
      params[name] = Array.isArray(value) ? value[0] : value;
    }
    return params;
  }

  private setWebhook(params: Record<string, unknown>): Response {
    const url = typeof params.url === "string" ? params.url : "";
    if (url === "") {
      // An empty URL removes the webhook, as Telegram does.
      const had = this.webhook !== null;
      this.webhook = null;
      return this.ok(true, had ? "Webhook was deleted" : "Webhook is already deleted");
    }
    const problem = webhookUrlProblem(url);
    if (problem) return badRequest(problem);
    let secret: string | undefined;
    if (params.secret_token !== undefined && params.secret_token !== "") {
      if (
        typeof params.secret_token !== "string" || params.secret_token.length > 256 ||
        !/^[A-Za-z0-9_-]+$/.test(params.secret_token)
      ) {
        return badRequest("secret token contains unallowed characters");
      }
      secret = params.secret_token;
    }
    let maxConnections = 40;
    if (params.max_connections !== undefined) {
      const n = Number(params.max_connections);
      if (!Number.isInteger(n) || n < 1 || n > 100) {
        return badRequest("max_connections must be between 1 and 100");
      }
      maxConnections = n;
    }
    let allowedUpdates: string[] | undefined;
    if (params.allowed_updates !== undefined) {
      let value = params.allowed_updates;
      if (typeof value === "string") {
        try {
          value = JSON.parse(value);
        } catch {
          return badRequest("can't parse allowed updates JSON object");
        }
      }
      if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
        return badRequest("can't parse allowed updates JSON object");
      }
      allowedUpdates = value as string[];
    }
    const same = this.webhook?.url === url && this.webhook.secretToken === secret;
    this.webhook = {
      url,
      secretToken: secret,
      maxConnections,
      allowedUpdates,
      setAt: new Date().toISOString(),
    };
    return this.ok(true, same ? "Webhook is already set" : "Webhook was set");
  }

  private deleteWebhook(): Response {
    const had = this.webhook !== null;
    this.webhook = null;
    return this.ok(true, had ? "Webhook was deleted" : "Webhook is already deleted");
  }

  /** sendMessage and sendDocument: checks, faults, the chat's state, then the sent message. */
  private send(params: Record<string, unknown>, kind: "message" | "document"): Response {
    const chatParam = params.chat_id;
    if (chatParam === undefined || chatParam === "") return badRequest("chat_id is empty");
    let text: string | undefined;
    let document: Record<string, unknown> | undefined;
    if (kind === "message") {
      text = typeof params.text === "string" ? params.text : undefined;
      if (!text || text.trim() === "") return badRequest("message text is empty");
      if (text.length > 4096) return badRequest("message is too long");
    } else {
      const given = params.document;
      if (given === undefined || given === "") {
        return badRequest("there is no document in the request");
      }
      if (typeof given === "string") {
        if (/^https?:\/\//.test(given)) {
          const name = new URL(given).pathname.split("/").pop() || "document";
          document = { file_name: decodeURIComponent(name), mime_type: "application/pdf" };
        } else if (/^[A-Za-z0-9_-]{10,}$/.test(given)) {
          document = { file_name: "document", mime_type: "application/octet-stream" };
        } else {
          return badRequest("wrong remote file identifier specified: Wrong string length");
        }
      } else {
        document = given as Record<string, unknown>;
      }
      if (typeof params.caption === "string" && params.caption.length > 1024) {
        return badRequest("message caption is too long");
      }
      text = typeof params.caption === "string" ? params.caption : undefined;
    }
    const parseMode = params.parse_mode;
    if (
      parseMode !== undefined && parseMode !== "" &&
      !["MarkdownV2", "HTML", "Markdown"].includes(String(parseMode))
    ) {
      return badRequest(`unsupported parse_mode`);
    }

    if (this.state.checkRate().limited) return this.tooMany();
    const fail = this.state.takeFailNext();
    if (fail) {
      const code = Number(fail.code);
      if (code === 429) return this.tooMany();
      if (code === 403) return telegramError(403, "Forbidden: bot was blocked by the user");
      if (code === 400) return badRequest("chat not found");
      return telegramError(
        fail.status ?? (code >= 400 && code <= 599 ? code : 500),
        String(
          fail.code,
        ),
      );
    }
    if (this.state.randomFailure()) return telegramError(500, "Internal Server Error");

    const chatId = Number(chatParam);
    const chat = Number.isSafeInteger(chatId) ? this.chats.get(chatId) : undefined;
    if (!chat) return badRequest("chat not found");
    if (chat.blocked) return telegramError(403, "Forbidden: bot was blocked by the user");

    chat.lastMessageId++;
    const date = Math.floor(Date.now() / 1000);
    const result: Record<string, unknown> = {
      message_id: chat.lastMessageId,
      from: {
        id: this.botId(),
        is_bot: true,
        first_name: "Py360 Sandbox Bot",
        username: telegramBotUsername,
      },
      chat: {
        id: chat.id,
        first_name: chat.first_name,
        ...(chat.username ? { username: chat.username } : {}),
        type: "private",
      },
      date,
    };
    if (kind === "message") result.text = text;
    else {
      const fileId = `BQACAgUAAxkDAAI${crypto.randomUUID().replaceAll("-", "")}`;
      result.document = {
        file_name: document?.file_name ?? "document",
        mime_type: document?.mime_type ?? "application/octet-stream",
        file_id: fileId,
        file_unique_id: fileId.slice(-16),
        ...(typeof document?.size === "number" ? { file_size: document.size } : {}),
      };
      if (text) result.caption = text;
    }
    this.state.requests.push({
      id: `${chat.id}:${chat.lastMessageId}`,
      receivedAt: new Date().toISOString(),
      to: String(chat.id),
      body: text,
      template: kind === "document" ? "document" : undefined,
      params,
    });
    return this.ok(result);
  }

  private tooMany(): Response {
    const wait = this.retryAfterSeconds;
    return telegramError(429, `Too Many Requests: retry after ${wait}`, { retry_after: wait });
  }

  /** Declares a chat (or changes it): a user who has started the bot, blocked or not. */
  upsertChat(id: number, options: { firstName?: string; username?: string; blocked?: boolean }) {
    const chat = this.chats.get(id) ?? {
      id,
      first_name: options.firstName ?? "Sandbox User",
      blocked: false,
      lastMessageId: 0,
    };
    if (options.firstName !== undefined) chat.first_name = options.firstName;
    if (options.username !== undefined) chat.username = options.username;
    if (options.blocked !== undefined) chat.blocked = options.blocked;
    this.chats.set(id, chat);
    return chat;
  }

  /**
   * Plays a user writing `text` to the bot: the chat becomes known (and unblocked: writing to a
   * bot one blocked unblocks it, as in Telegram's apps), and the update is POSTed to the webhook
   * with the registered secret (or `secret`, or none). Telegram retries a non-2xx answer; the
   * sandbox retries twice. Returns the update id and the receiver's last status.
   */
  async userMessage(played: PlayedMessage): Promise<TelegramUpdateRecord> {
    const webhook = this.webhook;
    if (!webhook) throw new Error("no webhook is set (setWebhook first)");
    const chat = this.upsertChat(played.chatId, {
      firstName: played.firstName,
      username: played.username,
      blocked: false,
    });
    chat.lastMessageId++;
    const updateId = played.updateId ?? this.nextUpdateId++;
    const secret = played.omitSecret ? null : played.secret ?? webhook.secretToken ?? null;
    const update = {
      update_id: updateId,
      message: {
        message_id: chat.lastMessageId,
        from: {
          id: chat.id,
          is_bot: false,
          first_name: chat.first_name,
          ...(chat.username ? { username: chat.username } : {}),
          language_code: "en",
        },
        chat: {
          id: chat.id,
          first_name: chat.first_name,
          ...(chat.username ? { username: chat.username } : {}),
          type: "private",
        },
        date: Math.floor(Date.now() / 1000),
        text: played.text,
        ...(played.text.startsWith("/")
          ? {
            entities: [{
              offset: 0,
              length: played.text.split(/\s/)[0].length,
              type: "bot_command",
            }],
          }
          : {}),
      },
    };
    const status = await this.post(webhook.url, secret, update);
    const record: TelegramUpdateRecord = {
      updateId,
      chatId: chat.id,
      text: played.text,
      secretSent: secret,
      status,
    };
    this.updates.push(record);
    return record;
  }

  /** Plays a user blocking or unblocking the bot (see PlayedMembership). */
  async membership(played: PlayedMembership): Promise<TelegramUpdateRecord> {
    const webhook = this.webhook;
    if (!webhook) throw new Error("no webhook is set (setWebhook first)");
    const chat = this.upsertChat(played.chatId, { blocked: played.status === "kicked" });
    const updateId = this.nextUpdateId++;
    const user = { id: chat.id, is_bot: false, first_name: chat.first_name };
    const bot = {
      id: this.botId(),
      is_bot: true,
      first_name: "Py360 Sandbox Bot",
      username: telegramBotUsername,
    };
    const date = Math.floor(Date.now() / 1000);
    const update = {
      update_id: updateId,
      my_chat_member: {
        chat: { id: chat.id, first_name: chat.first_name, type: "private" },
        from: user,
        date,
        old_chat_member: {
          user: bot,
          status: played.status === "kicked" ? "member" : "kicked",
          ...(played.status === "kicked" ? {} : { until_date: 0 }),
        },
        new_chat_member: {
          user: bot,
          status: played.status,
          ...(played.status === "kicked" ? { until_date: 0 } : {}),
        },
      },
    };
    const secret = webhook.secretToken ?? null;
    const status = await this.post(webhook.url, secret, update);
    const record: TelegramUpdateRecord = {
      updateId,
      chatId: chat.id,
      text: `(${played.status})`,
      secretSent: secret,
      status,
    };
    this.updates.push(record);
    return record;
  }

  /** POSTs an update as Telegram does (retried twice on a non-2xx); the receiver's status. */
  private post(url: string, secret: string | null, update: unknown): Promise<number> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (secret !== null) headers["x-telegram-bot-api-secret-token"] = secret;
    return this.ctx.callbacks.deliverNow(this.state, {
      event: "update",
      url,
      providerMessageId: String((update as { update_id: number }).update_id),
      build: () => Promise.resolve({ headers, body: JSON.stringify(update) }),
    }, { retries: 2, backoffMs: 100 });
  }
}

/** A 400 answer of the control API. */
function controlProblem(message: string): Response {
  return json({ error: message }, 400);
}

/**
 * The Telegram control routes (an addition to the shared contract), `action` being what follows
 * `/_control/telegram/`:
 * - `chats {chat_id, first_name?, username?, blocked?}`: declares a chat or marks it blocked;
 * - `message {chat_id, text, first_name?, username?, secret?, omit_secret?, update_id?}`: a user
 *   writes to the bot; the update goes to the webhook (409 when none is set);
 * - `member {chat_id, status: kicked|member}`: a user blocks or unblocks the bot (my_chat_member
 *   update to the webhook; 409 when none is set);
 * - `settings {retry_after}`: the retry_after (seconds, 1-3600) of the 429s the faults give.
 * Null for any other action.
 */
export async function telegramControl(
  vendor: TelegramVendor,
  action: string,
  body: Record<string, unknown>,
): Promise<Response | null> {
  const chatId = body.chat_id;
  const validChat = typeof chatId === "number" && Number.isSafeInteger(chatId) && chatId !== 0;
  const optionalText = (name: string) =>
    body[name] === undefined || (typeof body[name] === "string" && body[name] !== "");
  if (action === "chats") {
    if (!validChat) return controlProblem("chat_id must be a non-zero integer");
    if (!optionalText("first_name") || !optionalText("username")) {
      return controlProblem("first_name and username are non-empty strings when given");
    }
    if (body.blocked !== undefined && typeof body.blocked !== "boolean") {
      return controlProblem("blocked must be a boolean");
    }
    const chat = vendor.upsertChat(chatId, {
      firstName: body.first_name as string | undefined,
      username: body.username as string | undefined,
      blocked: body.blocked as boolean | undefined,
    });
    return json(chat);
  }
  if (action === "message") {
    if (!validChat) return controlProblem("chat_id must be a non-zero integer");
    if (typeof body.text !== "string" || body.text === "" || body.text.length > 4096) {
      return controlProblem("text must be 1 to 4096 characters");
    }
    if (!optionalText("first_name") || !optionalText("username") || !optionalText("secret")) {
      return controlProblem("first_name, username and secret are non-empty strings when given");
    }
    if (body.omit_secret !== undefined && typeof body.omit_secret !== "boolean") {
      return controlProblem("omit_secret must be a boolean");
    }
    if (
      body.update_id !== undefined &&
      (typeof body.update_id !== "number" || !Number.isSafeInteger(body.update_id) ||
        body.update_id < 1)
    ) {
      return controlProblem("update_id must be a positive integer");
    }
    try {
      return json(
        await vendor.userMessage({
          chatId,
          text: body.text,
          firstName: body.first_name as string | undefined,
          username: body.username as string | undefined,
          secret: body.secret as string | undefined,
          omitSecret: body.omit_secret as boolean | undefined,
          updateId: body.update_id as number | undefined,
        }),
      );
    } catch (error) {
      return json({ error: (error as Error).message }, 409);
    }
  }
  if (action === "member") {
    if (!validChat) return controlProblem("chat_id must be a non-zero integer");
    if (body.status !== "kicked" && body.status !== "member") {
      return controlProblem('status must be "kicked" (blocked) or "member" (unblocked)');
    }
    try {
      return json(await vendor.membership({ chatId, status: body.status }));
    } catch (error) {
      return json({ error: (error as Error).message }, 409);
    }
  }
  if (action === "settings") {
    const wait = body.retry_after;
    if (typeof wait !== "number" || !Number.isInteger(wait) || wait < 1 || wait > 3600) {
      return controlProblem("retry_after must be an integer from 1 to 3600 (seconds)");
    }
    vendor.retryAfterSeconds = wait;
    return json({ retry_after: wait });
  }
  return null;
}

/**
 * The Telegram inspection routes (an addition): `webhook` (the registered URL and secret, null
 * when none), `updates` (what was posted to it and the answers), `chats`. Null for others.
 */
export function telegramInspect(vendor: TelegramVendor, what: string): Response | null {
  if (what === "webhook") {
    // JSON null when none is set (json() would send an empty body for null).
    return new Response(JSON.stringify(vendor.webhook), {
      headers: { "content-type": "application/json" },
    });
  }
  if (what === "updates") return json(vendor.updates);
  if (what === "chats") return json([...vendor.chats.values()]);
  return null;
}
