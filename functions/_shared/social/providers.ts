// The three OAuth platforms behind one shape, so the connect, callback, refresh and disconnect
// code is written once: each platform's authorize URL, code exchange, refresh, revoke and
// account lookup, and whether it needs PKCE.
import { config, type VendorName } from "../config.ts";
import { ProblemError } from "../errors.ts";
import {
  facebookAccount,
  facebookAuthorizeUrl,
  facebookExchange,
  facebookExtend,
  facebookRevoke,
  facebookScopes,
} from "./facebook.ts";
import type { OAuthPlatform, PlatformAccount, TokenSet } from "./http.ts";
import {
  linkedinAccount,
  linkedinAuthorizeUrl,
  linkedinExchange,
  linkedinRevoke,
  linkedinScopes,
} from "./linkedin.ts";
import { xAccount, xAuthorizeUrl, xExchange, xRefresh, xRevoke, xScopes } from "./x.ts";

/** The decrypted tokens of a connection (in memory only). */
export interface PlainTokens {
  accessToken: string;
  refreshToken?: string;
}

/** One OAuth platform's operations. */
export interface OAuthProvider {
  platform: OAuthPlatform;
  /** Whether the authorization uses PKCE (X requires it). */
  pkce: boolean;
  /** The scopes asked for. */
  scopes: string[];
  authorizeUrl(state: string, redirectUri: string, codeChallenge?: string): string;
  exchange(code: string, redirectUri: string, codeVerifier?: string): Promise<TokenSet>;
  /** A fresh token set, or null when the platform offers no refresh (reconnect needed). */
  refresh(tokens: PlainTokens): Promise<TokenSet | null>;
  revoke(tokens: PlainTokens): Promise<void>;
  account(accessToken: string): Promise<PlatformAccount & { scopes?: string[] }>;
}

const providers: Record<OAuthPlatform, OAuthProvider> = {
  facebook: {
    platform: "facebook",
    pkce: false,
    scopes: facebookScopes,
    authorizeUrl: facebookAuthorizeUrl,
    exchange: (code, redirectUri) => facebookExchange(code, redirectUri),
    refresh: (tokens) => facebookExtend(tokens.accessToken),
    revoke: (tokens) => facebookRevoke(tokens.accessToken),
    account: facebookAccount,
  },
  x: {
    platform: "x",
    pkce: true,
    scopes: xScopes,
    authorizeUrl: (state, redirectUri, challenge) =>
      xAuthorizeUrl(state, redirectUri, challenge ?? ""),
    exchange: (code, redirectUri, verifier) => xExchange(code, redirectUri, verifier ?? ""),
    refresh: (tokens) =>
      tokens.refreshToken ? xRefresh(tokens.refreshToken) : Promise.resolve(null),
    revoke: async (tokens) => {
      await xRevoke(tokens.accessToken, "access_token");
      if (tokens.refreshToken) await xRevoke(tokens.refreshToken, "refresh_token");
    },
    account: xAccount,
  },
  linkedin: {
    platform: "linkedin",
    pkce: false,
    scopes: linkedinScopes,
    authorizeUrl: linkedinAuthorizeUrl,
    exchange: (code, redirectUri) => linkedinExchange(code, redirectUri),
    // Refresh tokens go to approved Marketing Developer Platform partners only.
    refresh: () => Promise.resolve(null),
    revoke: (tokens) => linkedinRevoke(tokens.accessToken),
    account: linkedinAccount,
  },
};

/**
 * The provider of `platform`, once its credentials and the encryption key are set; otherwise a
 * 503 ProblemError naming the missing variables.
 */
export function oauthProvider(platform: OAuthPlatform): OAuthProvider {
  const status = config().vendors[platform as VendorName];
  if (!status.enabled) {
    throw new ProblemError(503, "Service Unavailable", `${platform} is ${status.reason}.`, {
      platform,
    });
  }
  return providers[platform];
}

/** Where the platform sends the admin back: `${publicFunctionsUrl}/oauth/callback/{platform}`. */
export function callbackUrl(platform: OAuthPlatform): string {
  return `${config().publicFunctionsUrl}/oauth/callback/${platform}`;
}
