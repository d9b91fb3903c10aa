// Social tokens encrypted at rest: AES-256-GCM through WebCrypto, under the key in
// SOCIAL_TOKEN_ENCRYPTION_KEY (base64 of 32 bytes; on Supabase a secret set from Vault). The
// database only ever holds ciphertexts (private.social_tokens, private.oauth_states).
//
// Ciphertext layout, base64: 12-byte random IV ‖ AES-GCM output (ciphertext ‖ 16-byte tag). The
// additional authenticated data is `${platform}:${field}`, so a ciphertext moved to another
// platform or field (an access token passed off as a refresh token) fails to decrypt.
//
// Key ids: "k" + the first 16 hex digits of SHA-256(key bytes), stored beside each ciphertext.
// During a rotation SOCIAL_TOKEN_ENCRYPTION_KEY_PREVIOUS holds the old key: what was stored under
// it still decrypts, new writes use the current key (a refresh re-encrypts).
import { config } from "../config.ts";
import { ProblemError } from "../errors.ts";

/** The fields of a connection that are secret (columns of private.social_tokens), plus the
 * PKCE code verifier of a pending state. */
export type TokenField = "access_token" | "refresh_token" | "webhook_secret" | "code_verifier";

/** One usable key: its id and the imported AES-GCM CryptoKey. */
export interface TokenKey {
  id: string;
  key: CryptoKey;
}

/** The keys in force: `current` encrypts; both decrypt. */
export interface TokenKeys {
  current: TokenKey;
  previous?: TokenKey;
}

/** A key is missing or malformed, or a ciphertext does not decrypt under its key. */
export class TokenCryptoError extends Error {}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * Imports a key given as base64 of exactly 32 bytes. Throws TokenCryptoError (never quoting the
 * value) when it is not.
 */
export async function importTokenKey(base64: string, name = "key"): Promise<TokenKey> {
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = fromBase64(base64.trim());
  } catch {
    throw new TokenCryptoError(`${name} is not base64`);
  }
  if (raw.length !== 32) throw new TokenCryptoError(`${name} must be 32 bytes (base64)`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
  const id = "k" + Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0"))
    .join("");
  const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
  return { id, key };
}

let cachedKeys: { source: string; keys: Promise<TokenKeys> } | undefined;

/**
 * The keys from the configuration (SOCIAL_TOKEN_ENCRYPTION_KEY, optionally
 * SOCIAL_TOKEN_ENCRYPTION_KEY_PREVIOUS). Throws a 503 ProblemError naming the variable when the
 * key is unset or malformed.
 */
export function tokenKeys(): Promise<TokenKeys> {
  const { SOCIAL_TOKEN_ENCRYPTION_KEY: current, SOCIAL_TOKEN_ENCRYPTION_KEY_PREVIOUS: previous } =
    config();
  if (!current) {
    return Promise.reject(
      new ProblemError(
        503,
        "Service Unavailable",
        "Social integrations are disabled: set SOCIAL_TOKEN_ENCRYPTION_KEY.",
      ),
    );
  }
  const source = `${current}\n${previous ?? ""}`;
  if (cachedKeys?.source !== source) {
    const keys = (async () => ({
      current: await importTokenKey(current, "SOCIAL_TOKEN_ENCRYPTION_KEY"),
      previous: previous
        ? await importTokenKey(previous, "SOCIAL_TOKEN_ENCRYPTION_KEY_PREVIOUS")
        : undefined,
    }))().catch((error) => {
      cachedKeys = undefined;
      throw error instanceof TokenCryptoError
        ? new ProblemError(503, "Service Unavailable", `Social integrations: ${error.message}.`)
        : error;
    });
    cachedKeys = { source, keys };
  }
  return cachedKeys.keys;
}

/** The id of the key new ciphertexts are made with (stored as key_id beside them). */
export async function currentKeyId(keys?: TokenKeys): Promise<string> {
  return (keys ?? await tokenKeys()).current.id;
}

/**
 * Encrypts one secret of a platform: base64(IV ‖ ciphertext ‖ tag) under the current key with
 * AAD `${platform}:${field}`. Store currentKeyId() beside it.
 */
export async function encryptToken(
  platform: string,
  field: TokenField,
  plaintext: string,
  keys?: TokenKeys,
): Promise<string> {
  const { current } = keys ?? await tokenKeys();
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: encoder.encode(`${platform}:${field}`) },
      current.key,
      encoder.encode(plaintext),
    ),
  );
  const out = new Uint8Array(12 + sealed.length);
  out.set(iv);
  out.set(sealed, 12);
  return toBase64(out);
}

/**
 * Decrypts what encryptToken made for the same platform and field, with the key named by keyId
 * (the current or the previous one). Throws TokenCryptoError for an unknown key id, a wrong
 * platform/field, or a ciphertext that was altered.
 */
export async function decryptToken(
  platform: string,
  field: TokenField,
  ciphertext: string,
  keyId: string,
  keys?: TokenKeys,
): Promise<string> {
  const known = keys ?? await tokenKeys();
  const key = [known.current, known.previous].find((k) => k?.id === keyId);
  if (!key) throw new TokenCryptoError(`no key with id ${keyId}`);
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = fromBase64(ciphertext);
  } catch {
    throw new TokenCryptoError("ciphertext is not base64");
  }
  if (bytes.length < 12 + 16) throw new TokenCryptoError("ciphertext too short");
  try {
    const plain = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: bytes.subarray(0, 12),
        additionalData: encoder.encode(`${platform}:${field}`),
      },
      key.key,
      bytes.subarray(12),
    );
    return decoder.decode(plain);
  } catch {
    throw new TokenCryptoError(`${platform} ${field} does not decrypt`);
  }
}
