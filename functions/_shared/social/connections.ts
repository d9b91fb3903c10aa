// The life of an OAuth connection: started by an admin (a state and the platform's authorize
// URL), completed by the callback (state consumed, code exchanged, account looked up, tokens
// encrypted and stored), refreshed before expiry, and disconnected (revoked at the platform,
// tokens deleted whatever the platform says). Plaintext tokens exist only in memory here; they
// are never returned, logged or put in an error.
import { asService, type Tx } from "../db.ts";
import { ProblemError } from "../errors.ts";
import { log } from "../log.ts";
import { currentKeyId, decryptToken, encryptToken, TokenCryptoError } from "./crypto.ts";
import { type OAuthPlatform, oauthPlatforms, PlatformError, type TokenSet } from "./http.ts";
import { consumeState, createState } from "./oauth.ts";
import { callbackUrl, oauthProvider, type PlainTokens } from "./providers.ts";

/** A row of public.social_connections as the API shows it (never a token). */
export interface SocialConnection {
  platform: string;
  status: "connected" | "error" | "disconnected";
  account_id: string | null;
  account_name: string | null;
  scopes: string[];
  expires_at: Date | null;
  refresh_expires_at: Date | null;
  last_refreshed_at: Date | null;
  last_error: string | null;
  last_error_at: Date | null;
  connected_at: Date | null;
}

/** The columns of a SocialConnection, for queries that return one. */
export const connectionColumns = (tx: Tx) =>
  tx`platform, status, account_id, account_name, scopes, expires_at, refresh_expires_at,
     last_refreshed_at, last_error, last_error_at, connected_at`;

/**
 * Starts a connection: a state (and PKCE for X) stored for `adminId`, and the URL the admin
 * opens. Throws 503 when the platform or the encryption key is not configured.
 */
export async function startConnect(
  platform: OAuthPlatform,
  adminId: string,
): Promise<{ authorization_url: string; expires_at: Date }> {
  const provider = oauthProvider(platform);
  const made = await createState(platform, adminId, provider.pkce);
  return {
    authorization_url: provider.authorizeUrl(made.state, callbackUrl(platform), made.codeChallenge),
    expires_at: made.expiresAt,
  };
}

/** The lifetime in seconds as an absolute time from now, or null. */
function after(seconds: number | undefined): Date | null {
  return seconds === undefined ? null : new Date(Date.now() + seconds * 1000);
}

/** Encrypts and stores `tokens` with the account; returns the connection. */
async function save(
  tx: Tx,
  platform: OAuthPlatform,
  account: { id: string; name: string },
  scopes: string[],
  tokens: TokenSet,
  connectedBy: string | null,
): Promise<SocialConnection> {
  const sealed: Record<string, string> = {
    access_token: await encryptToken(platform, "access_token", tokens.accessToken),
  };
  if (tokens.refreshToken) {
    sealed.refresh_token = await encryptToken(platform, "refresh_token", tokens.refreshToken);
  }
  const keyId = await currentKeyId();
  const [row] = await tx<SocialConnection[]>`
    select ${connectionColumns(tx)}
      from private.save_social_connection(${platform}, ${account.id}, ${account.name},
             ${scopes}::text[], ${after(tokens.expiresIn)}, ${after(tokens.refreshExpiresIn)},
             ${tx.json(sealed)}::jsonb, ${keyId}, ${connectedBy}::uuid)`;
  return row;
}

/**
 * Completes a connection from the platform's callback: consumes `state` (400 invalid_state when
 * unknown, reused, expired or another platform's: nothing stored), exchanges `code` (400 when
 * the platform refuses it, 502 when it fails: nothing stored), looks the account up, and stores
 * the encrypted tokens. Returns the connection.
 */
export async function completeConnect(
  platform: OAuthPlatform,
  code: string,
  state: string,
): Promise<SocialConnection> {
  const provider = oauthProvider(platform);
  const consumed = await consumeState(platform, state);
  if (provider.pkce && !consumed.codeVerifier) {
    throw new PlatformError(platform, 400, "The authorization has no PKCE code verifier.");
  }
  const tokens = await provider.exchange(code, callbackUrl(platform), consumed.codeVerifier);
  const account = await provider.account(tokens.accessToken);
  const scopes = tokens.scopes ?? account.scopes ?? provider.scopes;
  return await asService((tx) => save(tx, platform, account, scopes, tokens, consumed.createdBy));
}

/** The decrypted tokens of `platform` read in `tx`, or null when none are stored. */
export async function storedTokens(tx: Tx, platform: string): Promise<PlainTokens | null> {
  const [row] = await tx<{ tokens: Record<string, string>; key_id: string }[]>`
    select tokens, key_id from private.social_token(${platform})`;
  return row ? await openTokens(platform, row) : null;
}

/** Decrypts the stored ciphertexts `row` of `platform`; null when it has no access token. */
async function openTokens(
  platform: string,
  row: { tokens: Record<string, string>; key_id: string },
): Promise<PlainTokens | null> {
  if (!row.tokens?.access_token) return null;
  const field = (name: "access_token" | "refresh_token") =>
    row.tokens[name] === undefined
      ? undefined
      : decryptToken(platform, name, row.tokens[name], row.key_id);
  return {
    accessToken: (await field("access_token"))!,
    refreshToken: await field("refresh_token"),
  };
}

/** The advisory lock (transaction scoped) that one platform's refresh and disconnect share. */
const refreshLockKey = (platform: OAuthPlatform) => `social_refresh:${platform}`;

/** What a refresh did for one platform. */
export interface RefreshResult {
  platform: OAuthPlatform;
  /** superseded: the connection was disconnected or reconnected while the platform answered;
   * nothing was stored and the new tokens were revoked (`revoked`). */
  outcome: "refreshed" | "not_due" | "reconnect_needed" | "failed" | "busy" | "superseded";
  expires_at?: Date | null;
  /** Why it failed (the platform's error code; never a token). */
  error?: string;
  /** superseded only: whether the platform revoked the tokens the refresh got. */
  revoked?: boolean;
}

/** How far ahead a token is refreshed: 24 h, or 30 min for X's 2-hour tokens. */
export function refreshWindowSeconds(platform: OAuthPlatform): number {
  return platform === "x" ? 1800 : 86_400;
}

/**
 * Refreshes each connected OAuth platform whose token expires within its window
 * (refreshWindowSeconds, or `withinSeconds` when given): X by its refresh token (rotated),
 * Facebook by a new long-lived exchange; LinkedIn, which gives us no refresh token, is marked
 * error "reconnect needed". A failure marks the connection error with the reason and does not
 * stop the others. One refresh per platform at a time (an advisory lock; a second run skips).
 */
export async function refreshDueConnections(
  options: { platform?: OAuthPlatform; withinSeconds?: number } = {},
): Promise<RefreshResult[]> {
  const results: RefreshResult[] = [];
  for (const platform of oauthPlatforms) {
    if (options.platform && options.platform !== platform) continue;
    const within = options.withinSeconds ?? refreshWindowSeconds(platform);
    const [due] = await asService((tx) =>
      tx<{ platform: string; expires_at: Date | null }[]>`
        select platform, expires_at from public.social_connections
         where platform = ${platform} and status in ('connected', 'error')
           and expires_at is not null
           and expires_at < now() + make_interval(secs => ${within})`
    );
    if (!due) {
      results.push({ platform, outcome: "not_due" });
      continue;
    }
    results.push(await refreshOne(platform));
  }
  return results;
}

async function refreshOne(platform: OAuthPlatform): Promise<RefreshResult> {
  try {
    const provider = oauthProvider(platform);
    return await asService(async (tx) => {
      const [{ locked }] = await tx<{ locked: boolean }[]>`
        select pg_try_advisory_xact_lock(hashtext(${refreshLockKey(platform)})) as locked`;
      if (!locked) return { platform, outcome: "busy" as const };
      // The connection and its tokens in one read: connected_at names the connection the new
      // tokens are for (a reconnect makes a new one); as text both ways, to keep its microseconds.
      const [current] = await tx<{
        connected_at: string;
        scopes: string[];
        tokens: Record<string, string>;
        key_id: string;
      }[]>`
        select c.connected_at::text as connected_at, c.scopes, s.tokens, s.key_id
          from public.social_connections c
          cross join lateral private.social_token(c.platform) s
         where c.platform = ${platform} and c.status in ('connected', 'error')
           and c.connected_at is not null`;
      const tokens = current ? await openTokens(platform, current) : null;
      if (!current || !tokens) return { platform, outcome: "not_due" as const };
      const fresh = await provider.refresh(tokens);
      if (!fresh) {
        await tx`select private.record_social_error(${platform},
          ${`${platform} gives no refresh token: reconnect before the access expires`})`;
        return { platform, outcome: "reconnect_needed" as const };
      }
      const sealed: Record<string, string> = {
        access_token: await encryptToken(platform, "access_token", fresh.accessToken),
      };
      const refreshToken = fresh.refreshToken ?? tokens.refreshToken;
      if (refreshToken) {
        sealed.refresh_token = await encryptToken(platform, "refresh_token", refreshToken);
      }
      const [saved] = await tx<SocialConnection[]>`
        select ${connectionColumns(tx)}
          from private.save_refreshed_social_tokens(${platform}, ${current.connected_at}::text::timestamptz,
                 ${fresh.scopes ?? current.scopes}::text[], ${after(fresh.expiresIn)},
                 ${after(fresh.refreshExpiresIn)}, ${tx.json(sealed)}::jsonb,
                 ${await currentKeyId()})`;
      if (saved) return { platform, outcome: "refreshed" as const, expires_at: saved.expires_at };
      return await discardRefreshed(tx, platform, { ...fresh, refreshToken });
    });
  } catch (error) {
    const reason = error instanceof PlatformError
      ? (error.detail ?? error.title)
      : "the refresh failed";
    log("warn", "social: refresh failed", { platform, reason });
    await asService((tx) => tx`select private.record_social_error(${platform}, ${reason})`);
    return { platform, outcome: "failed", error: reason };
  }
}

/**
 * The refresh's new tokens were not stored (the connection was disconnected or reconnected while
 * the platform answered): revokes them, so no live token is left that nothing holds. After a
 * reconnect only X's are revoked: X revokes just the token given, whereas Facebook's revoke
 * (DELETE /me/permissions) would end the new connection's authorization too.
 */
async function discardRefreshed(
  tx: Tx,
  platform: OAuthPlatform,
  tokens: PlainTokens,
): Promise<RefreshResult> {
  const [now] = await tx<{ status: string }[]>`
    select status from public.social_connections where platform = ${platform}`;
  const reconnected = now?.status === "connected" || now?.status === "error";
  log("warn", "social: refreshed tokens not stored; the connection changed meanwhile", {
    platform,
    reconnected,
  });
  if (reconnected && platform !== "x") {
    return { platform, outcome: "superseded", revoked: false };
  }
  try {
    await oauthProvider(platform).revoke(tokens);
    return { platform, outcome: "superseded", revoked: true };
  } catch (error) {
    const reason = error instanceof ProblemError
      ? (error.detail ?? error.title)
      : "the revoke failed";
    log("warn", "social: revoking the unsaved refreshed tokens failed", { platform, reason });
    return { platform, outcome: "superseded", revoked: false, error: reason };
  }
}

/** What a disconnection did: the connection after it, and whether the platform revoked. */
export interface Disconnection {
  connection: SocialConnection;
  revoked: boolean;
  /** Why the platform's revoke failed (tokens are deleted anyway). */
  revoke_error?: string;
}

/**
 * Revokes the tokens at the platform and deletes them (status disconnected). A revoke that fails
 * is reported in `revoke_error`; the tokens are deleted anyway. Waits for a refresh of the
 * platform under way (they share an advisory lock), so what it revokes and deletes is what that
 * refresh stored. Throws 404 (P0002) when the platform was never connected.
 */
export async function disconnectOAuth(platform: OAuthPlatform): Promise<Disconnection> {
  // Serialised with the platform's refresh (the same advisory lock): a refresh under way finishes
  // first, and the tokens revoked and deleted here are the ones it stored.
  return await asService(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext(${refreshLockKey(platform)}))`;
    let revoked = false;
    let revokeError: string | undefined;
    try {
      const tokens = await storedTokens(tx, platform);
      if (tokens) {
        await oauthProvider(platform).revoke(tokens);
        revoked = true;
      }
    } catch (error) {
      revokeError = error instanceof ProblemError
        ? (error.detail ?? error.title)
        : error instanceof TokenCryptoError
        ? "the stored tokens could not be decrypted (key rotated away?), so they were not revoked"
        : "the revoke failed";
      log("warn", "social: revoke failed; deleting the tokens anyway", {
        platform,
        reason: revokeError,
      });
    }
    const [connection] = await tx<SocialConnection[]>`
      select ${connectionColumns(tx)} from private.disconnect_social(${platform})`;
    return { connection, revoked, ...(revokeError ? { revoke_error: revokeError } : {}) };
  });
}
