// /webhooks/telegram: the bot's updates (VENDORS.md §7). Telegram signs nothing: it sends back,
// in X-Telegram-Bot-Api-Secret-Token, the secret_token given to setWebhook, which connectTelegram
// stored encrypted. That header is checked first, in constant time, against the stored secret
// (and, for a while after a reconnect, the one it replaced): missing, wrong, or no bot connected
// → 401 and nothing written. A verified update is recorded
// once per update_id (private.record_telegram_update: message_events, vendor telegram), where
// "/start <token>" links the customer's chat, an opt-out word withdraws the telegram consent, and
// a user blocking or unblocking the bot (my_chat_member) suppresses or lifts their chat; the user
// is then told the outcome in the chat (best effort, not through the outbox).
import { z } from "zod";
import { createRouter } from "../_shared/app.ts";
import { asService } from "../_shared/db.ts";
import { log } from "../_shared/log.ts";
import { timingSafeEqualText } from "../_shared/signatures/compare.ts";
import { logSecretMatch, matchSecret, type SecretSlot } from "../_shared/secrets.ts";
import {
  replyInTelegram,
  sha256Hex,
  type TelegramWebhookSecrets,
  telegramWebhookSecrets,
} from "../_shared/social/telegram.ts";
import { malformed, signatureRefused, type WebhookDeps } from "./events.ts";

/** The parts of an update we read; the rest is kept as the event's payload. */
const updateSchema = z.looseObject({
  update_id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  message: z.looseObject({
    chat: z.looseObject({ id: z.number().int(), type: z.string().optional() }),
    text: z.string().max(4096).optional(),
    date: z.number().int().optional(),
  }).optional(),
  // The bot's own membership in a chat: a user blocking it (kicked) or unblocking it (member).
  my_chat_member: z.looseObject({
    chat: z.looseObject({ id: z.number().int(), type: z.string().optional() }),
    new_chat_member: z.looseObject({ status: z.string().max(40) }),
  }).optional(),
});

/** What private.record_telegram_update answered. */
interface Recorded {
  new: boolean;
  action:
    | "duplicate"
    | "ignored"
    | "linked"
    | "link_refused"
    | "opted_out"
    | "restarted"
    | "blocked"
    | "unblocked";
  reason?: "unknown" | "used" | "expired" | "no_token";
  staff?: boolean;
}

/** What the bot tells the user after an update, by outcome; null: nothing. */
export function telegramReply(recorded: Recorded): string | null {
  if (!recorded.new) return null;
  if (recorded.action === "linked") {
    return recorded.staff
      ? "Linked: Py360 alerts will come to this chat. Send STOP to stop them."
      : "Linked: Py360 will send your renewal reminders and receipts to this chat. " +
        "Send STOP at any time to stop.";
  }
  if (recorded.action === "link_refused") {
    return recorded.reason === "no_token"
      ? "Hello! To link this chat, open the link your Py360 agent sent you."
      : "This link has expired or was already used. Ask your Py360 agent for a new one.";
  }
  if (recorded.action === "restarted") {
    return "Welcome back: Py360 messages will come to this chat again. Send STOP to stop.";
  }
  if (recorded.action === "opted_out") {
    return "Stopped: Py360 will send nothing more to this chat. Open a new link from your " +
      "agent to start again.";
  }
  return null;
}

/**
 * Which accepted secret `given` (the header, or null) is: the current one (`secrets.current`) or,
 * within its window, the previous one (`secrets.previousSha256`, a digest); null for neither or
 * when no bot is connected (`secrets` null). SHA-256 digests are compared, both always, in
 * constant time, so neither the lengths nor which one matched show in the time taken.
 */
export async function telegramSecretMatch(
  given: string | null,
  secrets: TelegramWebhookSecrets | null,
): Promise<SecretSlot | null> {
  if (given === null || secrets === null) return null;
  const givenDigest = await sha256Hex(given);
  return await matchSecret(
    {
      name: "telegram webhook secret",
      current: await sha256Hex(secrets.current),
      previous: secrets.previousSha256 ?? undefined,
    },
    (expected) => timingSafeEqualText(givenDigest, expected),
  );
}

/**
 * True when `given` (the header, or null) equals the stored secret (null: no bot connected),
 * compared in constant time.
 */
export async function telegramSecretMatches(
  given: string | null,
  stored: string | null,
): Promise<boolean> {
  const secrets = stored === null ? null : { current: stored, previousSha256: null };
  return (await telegramSecretMatch(given, secrets)) !== null;
}

/** The /telegram route: POST (updates). */
export function telegramRoutes(deps: WebhookDeps) {
  return createRouter().post("/telegram", async (c) => {
    const given = c.req.header("x-telegram-bot-api-secret-token") ?? null;
    const stored = given === null ? null : await telegramWebhookSecrets();
    const matched = await telegramSecretMatch(given, stored);
    if (!matched) {
      log("warn", "webhook refused", {
        vendor: "telegram",
        reason: given === null ? "no secret header" : stored === null ? "not connected" : "secret",
      });
      throw signatureRefused("Telegram");
    }
    logSecretMatch("telegram", "telegram webhook secret", matched);
    let body: unknown;
    try {
      body = JSON.parse(await c.req.text());
    } catch {
      throw malformed("The body is not JSON.");
    }
    const parsed = updateSchema.safeParse(body);
    if (!parsed.success) throw malformed("Not a Telegram update.");
    const update = parsed.data;
    // Only a private chat is a person: a /start posted in a group links nothing (recorded, ignored).
    const chat = update.message?.chat ?? update.my_chat_member?.chat;
    const chatId = chat && (chat.type === undefined || chat.type === "private")
      ? chat.id
      : undefined;
    const [row] = await asService((tx) =>
      tx<{ recorded: Recorded }[]>`
        select private.record_telegram_update(${update.update_id}, ${chatId ?? null}::text,
                 ${update.message?.text ?? null},
                 ${tx.json(body as never)}::jsonb) as recorded`
    );
    const reply = telegramReply(row.recorded);
    if (reply && chatId !== undefined) {
      await replyInTelegram(deps.config(), chatId, reply, deps.fetch);
    }
    return c.json({ ok: true, action: row.recorded.action }, 200);
  });
}
