// One call to a social platform's OAuth or API endpoint: a deadline (PROVIDER_TIMEOUT_MS), the
// answer's status and JSON, and errors that name the platform and endpoint but never a token or
// a secret (neither is ever put in a message or a log here).
import { config } from "../config.ts";
import { ProblemError } from "../errors.ts";

/** The platforms connected by OAuth 2.0 authorization code. */
export type OAuthPlatform = "facebook" | "x" | "linkedin";

/** The OAuth platforms, in the order the status lists them. */
export const oauthPlatforms: readonly OAuthPlatform[] = ["facebook", "x", "linkedin"];

/** A platform's answer: its HTTP status and its body parsed as JSON (null when it is not). */
export interface PlatformAnswer {
  status: number;
  body: Record<string, unknown> | null;
}

/**
 * A platform refused or failed a call. `status` is what our API answers: 400 when the platform
 * refused what we relayed (a bad or expired code: the admin must start again), 502 when it failed
 * or could not be reached. `code` is the platform's error code (e.g. `invalid_grant`), when given.
 */
export class PlatformError extends ProblemError {
  constructor(
    readonly platform: string,
    status: 400 | 502,
    detail: string,
    readonly code?: string,
  ) {
    super(status, status === 400 ? "Authorization Refused" : "Bad Gateway", detail, {
      platform,
      ...(code ? { code } : {}),
    });
  }
}

/**
 * Calls `url` with `init` under the provider deadline. Resolves with the status and JSON body of
 * any HTTP answer; throws a 502 PlatformError for a timeout or a connection failure.
 */
export async function callPlatform(
  platform: string,
  what: string,
  url: string | URL,
  init: RequestInit = {},
): Promise<PlatformAnswer> {
  let response: Response;
  try {
    response = await fetch(url, {
      ...init,
      redirect: "manual",
      signal: AbortSignal.timeout(config().PROVIDER_TIMEOUT_MS),
    });
  } catch (error) {
    const reason = (error as Error).name === "TimeoutError" ? "timed out" : "could not be reached";
    throw new PlatformError(platform, 502, `${platform} ${what} ${reason}.`);
  }
  const text = await response.text();
  let body: Record<string, unknown> | null = null;
  try {
    const parsed = text === "" ? null : JSON.parse(text);
    body = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? parsed : null;
  } catch {
    body = null;
  }
  return { status: response.status, body };
}

/** The platform's error code in an OAuth (`error`) or Graph (`error.type/code`) body. */
function errorCode(body: Record<string, unknown> | null): string | undefined {
  if (!body) return undefined;
  if (typeof body.error === "string") return body.error;
  const graph = body.error as Record<string, unknown> | undefined;
  if (graph && typeof graph === "object") {
    const sub = graph.error_subcode ? `/${graph.error_subcode}` : "";
    return `${graph.type ?? "error"} ${graph.code ?? ""}${sub}`.trim();
  }
  return undefined;
}

/**
 * Throws the PlatformError for an answer that is not 2xx: a 4xx is a refusal (400, with the
 * platform's error code), anything else a failure (502). Returns the body of a 2xx answer (an
 * empty object when it has none).
 */
export function expectOk(
  platform: string,
  what: string,
  answer: PlatformAnswer,
): Record<string, unknown> {
  if (answer.status >= 200 && answer.status < 300) return answer.body ?? {};
  const code = errorCode(answer.body);
  const refused = answer.status >= 400 && answer.status < 500;
  throw new PlatformError(
    platform,
    refused ? 400 : 502,
    `${platform} ${refused ? "refused" : "failed"} ${what} (HTTP ${answer.status}` +
      `${code ? `, ${code}` : ""}).`,
    code,
  );
}

/** The seconds in `value` when it is a positive number (an OAuth `expires_in`), else undefined. */
export function seconds(value: unknown): number | undefined {
  const n = typeof value === "string" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? n : undefined;
}

/** What a token endpoint gave: the tokens (plaintext, in memory only) and their lifetimes. */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** Seconds the access token lives, when the platform says. */
  expiresIn?: number;
  /** Seconds the refresh token lives, when the platform says. */
  refreshExpiresIn?: number;
  /** Scopes granted, when the token answer lists them. */
  scopes?: string[];
}

/** The account a token belongs to. */
export interface PlatformAccount {
  id: string;
  name: string;
}
