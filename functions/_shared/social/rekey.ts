// Key rotation for stored social secrets: whatever is still encrypted under the previous key
// (SOCIAL_TOKEN_ENCRYPTION_KEY_PREVIOUS) is decrypted and encrypted again under the current one
// (private.rekey_social_tokens swaps them only if they did not change meanwhile). Run by the
// refresh job (POST /oauth/refresh and the local worker), so that once it reports nothing stale
// the previous key can be removed. Plaintext stays in memory.
import { asService } from "../db.ts";
import {
  decryptToken,
  encryptToken,
  type TokenField,
  type TokenKeys,
  tokenKeys,
} from "./crypto.ts";

/** What rekeying did for one platform. */
export interface RekeyResult {
  platform: string;
  outcome: "rekeyed" | "changed_meanwhile" | "unknown_key";
}

const fields: Exclude<TokenField, "code_verifier">[] = [
  "access_token",
  "refresh_token",
  "webhook_secret",
];

/**
 * Re-encrypts under the current key every platform's secrets stored under another key that
 * `keys` still holds (the previous one); platforms already under the current key are left out of
 * the result. A key id neither key has is reported as unknown_key (those secrets cannot be read:
 * reconnect the platform). `keys` defaults to the configured ones.
 */
export async function rekeyStaleTokens(keys?: TokenKeys): Promise<RekeyResult[]> {
  const known = keys ?? await tokenKeys();
  const rows = await asService((tx) =>
    tx<{ platform: string; tokens: Record<string, string>; key_id: string }[]>`
      select c.platform, t.tokens, t.key_id
        from public.social_connections c
       cross join lateral private.social_token(c.platform) t
       where t.key_id <> ${known.current.id}`
  );
  const results: RekeyResult[] = [];
  for (const row of rows) {
    if (row.key_id !== known.previous?.id) {
      results.push({ platform: row.platform, outcome: "unknown_key" });
      continue;
    }
    const sealed: Record<string, string> = {};
    for (const field of fields) {
      const old = row.tokens[field];
      if (old === undefined) continue;
      const plain = await decryptToken(row.platform, field, old, row.key_id, known);
      sealed[field] = await encryptToken(row.platform, field, plain, known);
    }
    const [{ done }] = await asService((tx) =>
      tx<{ done: boolean }[]>`
        select private.rekey_social_tokens(${row.platform}, ${tx.json(sealed)}::jsonb,
                 ${known.current.id}, ${tx.json(row.tokens)}::jsonb, ${row.key_id}) as done`
    );
    results.push({ platform: row.platform, outcome: done ? "rekeyed" : "changed_meanwhile" });
  }
  return results;
}
