// The Telegram branch of the integrations endpoints: functions/_shared/social/telegram.ts
// (connectTelegram, verifyTelegram, disconnectTelegram, telegramStaffLink). Its answers are normalised here: the
// connection is re-read from public.social_connections, so the desk sees the same shape for
// every platform and never a secret.
import { asService, type Claims } from "../../_shared/db.ts";
import { connectionColumns, type SocialConnection } from "../../_shared/social/connections.ts";
import {
  connectTelegram,
  disconnectTelegram,
  telegramStaffLink,
  type TelegramVerification,
  verifyTelegram,
} from "../../_shared/social/telegram.ts";

/** What the integrations endpoints need of Telegram. */
export interface TelegramApi {
  /** getMe + setWebhook with a fresh secret; the connection after it. */
  connectTelegram(adminId: string): Promise<SocialConnection | undefined>;
  /** The linked chat, or a new deep link for the customer (404 for a customer not seen). */
  verifyTelegram(customerId: string, claims: Claims): Promise<TelegramVerification>;
  /** deleteWebhook, tokens deleted; whether Telegram confirmed. */
  disconnectTelegram(): Promise<
    { connection: SocialConnection | undefined; revoked: boolean; revoke_error?: string }
  >;
  /** A deep link for the calling admin's own chat, for alerts (409 while not connected). */
  staffLink(claims: Claims): Promise<{ deep_link: string; expires_at: string }>;
}

async function connectionRow(): Promise<SocialConnection | undefined> {
  const [row] = await asService((tx) =>
    tx<SocialConnection[]>`
      select ${connectionColumns(tx)} from public.social_connections where platform = 'telegram'`
  );
  return row;
}

/** The Telegram operations, shaped for the integrations handlers. */
export function telegramApi(): Promise<TelegramApi> {
  return Promise.resolve({
    async connectTelegram(adminId) {
      await connectTelegram(adminId);
      return await connectionRow();
    },
    verifyTelegram: (customerId, claims) => verifyTelegram(customerId, claims),
    async disconnectTelegram() {
      const answer = await disconnectTelegram();
      return { connection: await connectionRow(), ...answer };
    },
    staffLink: (claims) => telegramStaffLink(claims),
  });
}
