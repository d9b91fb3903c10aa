// The Telegram branch of the integrations endpoints: functions/_shared/social/telegram.ts (the
// telegram helper's: connectTelegram, verifyTelegram, disconnectTelegram). Until that module
// exists, the branch answers 503 "telegram not built yet". Its answers are normalised here: the
// connection is re-read from public.social_connections, so the desk sees the same shape for
// every platform and never a secret.
import { asService, type Claims } from "../../_shared/db.ts";
import { ProblemError } from "../../_shared/errors.ts";
import { connectionColumns, type SocialConnection } from "../../_shared/social/connections.ts";

/** What the integrations endpoints need of Telegram. */
export interface TelegramApi {
  /** getMe + setWebhook with a fresh secret; the connection after it. */
  connectTelegram(adminId: string): Promise<SocialConnection | undefined>;
  /** The linked chat, or a new deep link for the customer. */
  verifyTelegram(customerId: string, claims: Claims): Promise<Record<string, unknown>>;
  /** deleteWebhook, tokens deleted; whether Telegram confirmed. */
  disconnectTelegram(): Promise<
    { connection: SocialConnection | undefined; revoked: boolean; revoke_error?: string }
  >;
}

// A specifier the type checker does not follow, so this compiles before the module lands.
const modulePath = "../../_shared/social/telegram.ts";

async function connectionRow(): Promise<SocialConnection | undefined> {
  const [row] = await asService((tx) =>
    tx<SocialConnection[]>`
      select ${connectionColumns(tx)} from public.social_connections where platform = 'telegram'`
  );
  return row;
}

/** The Telegram operations, or a 503 ProblemError while functions/_shared/social/telegram.ts is
 * not built. */
export async function telegramApi(): Promise<TelegramApi> {
  // deno-lint-ignore no-explicit-any
  let mod: any;
  try {
    mod = await import(modulePath);
  } catch (error) {
    if (error instanceof TypeError && /Module not found|Cannot find module/i.test(error.message)) {
      throw new ProblemError(503, "Service Unavailable", "telegram not built yet", {
        platform: "telegram",
      });
    }
    throw error;
  }
  return {
    async connectTelegram(adminId) {
      await mod.connectTelegram(adminId);
      return await connectionRow();
    },
    async verifyTelegram(customerId, claims) {
      const answer = await mod.verifyTelegram(customerId, claims);
      const linked = answer?.reachable ?? answer?.linked ?? null;
      return {
        answerable: true,
        reachable: typeof linked === "boolean" ? linked : false,
        ...answer,
      };
    },
    async disconnectTelegram() {
      const answer = await mod.disconnectTelegram();
      return {
        connection: await connectionRow(),
        revoked: answer?.revoked ?? true,
        ...(answer?.revoke_error ? { revoke_error: String(answer.revoke_error) } : {}),
      };
    },
  };
}
