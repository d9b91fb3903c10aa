// OAuth state and PKCE: a state of 256 random bits (base64url) sent to the platform and kept
// server-side only as its SHA-256 (private.oauth_states), with the admin who started it and, for
// X, the PKCE code verifier encrypted like a token. A state is consumed once, within 10 minutes,
// for the platform it was made for; anything else is refused before any code is exchanged.
import { asService } from "../db.ts";
import { ProblemError } from "../errors.ts";
import { currentKeyId, decryptToken, encryptToken } from "./crypto.ts";
import type { OAuthPlatform } from "./http.ts";

/** How long an authorization may take, in seconds (VENDORS.md §8: about 10 minutes). */
export const stateTtlSeconds = 600;

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** Lowercase hex SHA-256 of a text. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A PKCE pair (RFC 7636): a 43-character verifier and its S256 challenge. */
export async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
  );
  return { verifier, challenge };
}

/** A state made for an authorization: what goes in the URL, its PKCE challenge, its expiry. */
export interface NewState {
  state: string;
  /** The S256 challenge, when PKCE was asked for. */
  codeChallenge?: string;
  expiresAt: Date;
}

/**
 * Makes and stores a state for `platform` started by `adminId`; with `pkce`, a code verifier
 * too (stored encrypted). Throws a 503 ProblemError when the encryption key is not set.
 */
export async function createState(
  platform: OAuthPlatform,
  adminId: string,
  pkce: boolean,
): Promise<NewState> {
  const state = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const pair = pkce ? await pkcePair() : undefined;
  const sealed = pair ? await encryptToken(platform, "code_verifier", pair.verifier) : null;
  const keyId = pair ? await currentKeyId() : null;
  const hash = await sha256Hex(state);
  const [row] = await asService((tx) =>
    tx<{ expires_at: Date }[]>`
      select private.create_oauth_state(${hash}, ${platform}, ${sealed}, ${keyId},
                                        ${adminId}::uuid, ${`${stateTtlSeconds} seconds`}::interval)
        as expires_at`
  );
  return { state, codeChallenge: pair?.challenge, expiresAt: new Date(row.expires_at) };
}

/** A consumed state: who started it and, for PKCE, the plaintext code verifier. */
export interface ConsumedState {
  createdBy: string | null;
  codeVerifier?: string;
}

/** The 400 of a state that is unknown, used, expired or for another platform. */
export const invalidState = () =>
  new ProblemError(
    400,
    "Invalid State",
    "The authorization's state is unknown, already used or expired: start the connection again.",
    { code: "invalid_state" },
  );

/**
 * Consumes `state` for `platform` once. Throws the 400 invalidState() when it is unknown, used,
 * expired or another platform's (nothing is changed then), and when a PKCE state's verifier
 * cannot be read back.
 */
export async function consumeState(
  platform: OAuthPlatform,
  state: string,
): Promise<ConsumedState> {
  const hash = await sha256Hex(state);
  const [row] = await asService((tx) =>
    tx<{ code_verifier: string | null; key_id: string | null; created_by: string | null }[]>`
      select code_verifier, key_id, created_by
        from private.consume_oauth_state(${hash}, ${platform})`
  );
  if (!row) throw invalidState();
  if (row.code_verifier === null) return { createdBy: row.created_by };
  try {
    const codeVerifier = await decryptToken(
      platform,
      "code_verifier",
      row.code_verifier,
      row.key_id ?? "",
    );
    return { createdBy: row.created_by, codeVerifier };
  } catch {
    throw invalidState();
  }
}
