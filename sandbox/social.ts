// The OAuth 2.0 authorization-code flows of Facebook, X and LinkedIn, as the sandbox plays them
// (VENDORS.md §8), with the user lookups the integrations use:
//   Facebook  GET  /facebook/v{ver}/dialog/oauth                 → 302 redirect_uri?code&state
//             GET  /graph/v{ver}/oauth/access_token              (code, or fb_exchange_token)
//             GET  /graph/v{ver}/me, /graph/v{ver}/{id}           (access_token query or Bearer)
//             GET /graph/v{ver}/me/permissions (granted scopes)
//             DELETE /graph/v{ver}/me/permissions                → {success:true}; token revoked
//   X         GET  /x/i/oauth2/authorize                         → 302 (PKCE challenge required)
//             POST /x/2/oauth2/token      (form; Basic client auth; code + code_verifier checked
//                                          against the S256 challenge; refresh_token rotates)
//             POST /x/2/oauth2/revoke     → {revoked:true}
//             GET  /x/2/users/me, /x/2/users/by/username/{username}
//   LinkedIn  GET  /linkedin/oauth/v2/authorization               → 302
//             POST /linkedin/oauth/v2/accessToken  (form with client_id and client_secret)
//             POST /linkedin/oauth/v2/revoke
//             GET  /linkedin/v2/userinfo
// The played user approves every consent at once (unless the control API says deny). Codes are
// single use, live 60 s on the sandbox's clock, and are bound to the client_id and redirect_uri
// (exact match) they were issued for. Error bodies are each vendor's own shape.
//
// Control (an addition to the shared contract):
//   POST /_control/social/fail-next  {platform, status?: 400|401|500|503, error?: "invalid_grant"}
//        the next token call (code, exchange or refresh) of that platform fails that way;
//   POST /_control/social/deny       {platform}  the next authorization answers access_denied;
//   POST /_control/social/advance    {seconds}   moves the sandbox's clock (codes, tokens);
//   POST /_control/social/x-users    {username, name?}  a user the X lookup finds;
//   POST /_control/social/reset      (also done by POST /_control/reset).
// Inspect: GET /_inspect/social/tokens (every token issued, its state), /_inspect/social/calls.

import { basicAuth, bearer, json, parseForm } from "./http.ts";
import { base64, fbtraceId, randomHex } from "./ids.ts";
import type { SandboxContext } from "./types.ts";

/** The platforms the sandbox plays OAuth for. */
export type SocialPlatform = "facebook" | "x" | "linkedin";

const platforms: readonly SocialPlatform[] = ["facebook", "x", "linkedin"];

/** How long a code lives, in seconds (VENDORS.md §8: "within minutes"; the sandbox is strict). */
export const socialCodeSeconds = 60;

/** The played account of each platform (the user who approves the consent). */
export const socialAccounts = {
  facebook: { id: "10229384756019283", name: "Py360 Renewals" },
  x: { id: "1589203746152038401", name: "Py360 Renewals", username: "py360_renewals" },
  linkedin: {
    sub: "782bbtaQ",
    name: "Py360 Renewals",
    given_name: "Py360",
    family_name: "Renewals",
    email: "social@py360.test",
  },
} as const;

interface IssuedCode {
  platform: SocialPlatform;
  clientId: string;
  redirectUri: string;
  scopes: string[];
  challenge?: string;
  challengeMethod?: string;
  issuedAt: number;
  used: boolean;
}

/** A token the sandbox issued, as the inspection API shows it. */
export interface IssuedToken {
  platform: SocialPlatform;
  kind: "access" | "refresh" | "short_lived";
  token: string;
  scopes: string[];
  /** Sandbox-clock milliseconds; null: no expiry. */
  expiresAt: number | null;
  revoked: boolean;
  /** Replaced by a refresh (X rotates its refresh tokens). */
  rotated: boolean;
}

/** One call the sandbox received, secrets masked. */
export interface SocialCall {
  platform: SocialPlatform;
  endpoint: string;
  status: number;
  at: string;
}

interface TokenFault {
  status: number;
  error: string;
}

/** The three platforms' OAuth servers and lookups. */
export class SocialVendor {
  codes = new Map<string, IssuedCode>();
  tokens = new Map<string, IssuedToken>();
  calls: SocialCall[] = [];
  xUsers = new Map<string, { id: string; name: string; username: string }>();
  private offsetMs = 0;
  private failNext = new Map<SocialPlatform, TokenFault>();
  private denyNext = new Set<SocialPlatform>();

  constructor(private ctx: SandboxContext) {}

  /** Back to no codes, tokens, calls, faults; the clock back to real time. */
  reset(): void {
    this.codes.clear();
    this.tokens.clear();
    this.calls = [];
    this.xUsers.clear();
    this.offsetMs = 0;
    this.failNext.clear();
    this.denyNext.clear();
  }

  /** The sandbox's clock (real time plus what the control API advanced), in milliseconds. */
  now(): number {
    return Date.now() + this.offsetMs;
  }

  /** True for a /graph path this module answers (the WhatsApp module has the rest). */
  ownsGraphPath(path: string): boolean {
    return /^\/v\d+\.\d+\/(oauth\/access_token|me(\/permissions)?|\d+)$/.test(path);
  }

  private record(platform: SocialPlatform, endpoint: string, response: Response): Response {
    this.calls.push({ platform, endpoint, status: response.status, at: new Date().toISOString() });
    return response;
  }

  private credentials(platform: SocialPlatform): { id: string; secret: string } {
    const c = this.ctx.credentials;
    if (platform === "facebook") return { id: c.facebookAppId, secret: c.facebookAppSecret };
    if (platform === "x") return { id: c.xClientId, secret: c.xClientSecret };
    return { id: c.linkedinClientId, secret: c.linkedinClientSecret };
  }

  // ---- authorization (the consent screen, approved at once) ----

  private authorize(platform: SocialPlatform, url: URL): Response {
    const q = url.searchParams;
    const clientId = q.get("client_id");
    const redirectUri = q.get("redirect_uri");
    if (clientId !== this.credentials(platform).id) {
      return new Response(`${platform}: invalid client_id`, { status: 400 });
    }
    if (!redirectUri || !URL.canParse(redirectUri)) {
      return new Response(`${platform}: invalid redirect_uri`, { status: 400 });
    }
    const back = new URL(redirectUri);
    const state = q.get("state");
    if (state !== null) back.searchParams.set("state", state);
    const fail = (error: string, description: string) => {
      back.searchParams.set("error", error);
      back.searchParams.set("error_description", description);
      return Response.redirect(back.toString(), 302);
    };
    if (q.get("response_type") !== "code") {
      return fail("unsupported_response_type", "response_type must be code");
    }
    const challenge = q.get("code_challenge") ?? undefined;
    const method = q.get("code_challenge_method") ?? undefined;
    if (platform === "x") {
      if (!challenge || (method !== "S256" && method !== "plain")) {
        return fail("invalid_request", "code_challenge and code_challenge_method are required");
      }
    }
    if (this.denyNext.delete(platform)) {
      return fail("access_denied", "The user denied the request.");
    }
    const separator = platform === "facebook" ? /[\s,]+/ : /\s+/;
    const scopes = (q.get("scope") ?? "").split(separator).filter(Boolean);
    const code = platform === "facebook"
      ? `AQ${base64(crypto.getRandomValues(new Uint8Array(96)), true)}`
      : platform === "x"
      ? base64(crypto.getRandomValues(new Uint8Array(60)), true)
      : `AQ${base64(crypto.getRandomValues(new Uint8Array(120)), true)}`;
    this.codes.set(code, {
      platform,
      clientId,
      redirectUri,
      scopes,
      challenge,
      challengeMethod: method,
      issuedAt: this.now(),
      used: false,
    });
    back.searchParams.set("code", code);
    return Response.redirect(back.toString(), 302);
  }

  /**
   * Takes a code for `platform`: the reason it is refused, or the code's record (marked used).
   * A refused code stays as it was, except that reusing one spends it for good.
   */
  private takeCode(
    platform: SocialPlatform,
    code: string | undefined,
    clientId: string | undefined,
    redirectUri: string | undefined,
  ): IssuedCode | "invalid" | "expired" | "used" | "mismatch" {
    const issued = code ? this.codes.get(code) : undefined;
    if (!issued || issued.platform !== platform) return "invalid";
    if (issued.used) return "used";
    if (this.now() - issued.issuedAt > socialCodeSeconds * 1000) return "expired";
    if (issued.clientId !== clientId || issued.redirectUri !== redirectUri) return "mismatch";
    issued.used = true;
    return issued;
  }

  private issue(
    platform: SocialPlatform,
    kind: IssuedToken["kind"],
    scopes: string[],
    seconds: number | null,
  ): IssuedToken {
    const token = platform === "facebook"
      ? `EAAG${randomHex(8)}${base64(crypto.getRandomValues(new Uint8Array(120)), true)}`
      : platform === "x"
      ? base64(crypto.getRandomValues(new Uint8Array(66)), true)
      : `AQV${base64(crypto.getRandomValues(new Uint8Array(180)), true)}`;
    const issued: IssuedToken = {
      platform,
      kind,
      token,
      scopes,
      expiresAt: seconds === null ? null : this.now() + seconds * 1000,
      revoked: false,
      rotated: false,
    };
    this.tokens.set(token, issued);
    return issued;
  }

  /** A live access token of `platform` from the request (Bearer or `access_token` query). */
  private liveToken(platform: SocialPlatform, request: Request, url: URL): IssuedToken | null {
    const given = bearer(request.headers.get("authorization")) ??
      url.searchParams.get("access_token");
    const token = given ? this.tokens.get(given) : undefined;
    if (
      !token || token.platform !== platform || token.kind === "refresh" || token.revoked ||
      (token.expiresAt !== null && token.expiresAt <= this.now())
    ) return null;
    return token;
  }

  // ---- Facebook ----

  private graphError(message: string, code: number, subcode?: number, status = 400): Response {
    return json({
      error: {
        message,
        type: "OAuthException",
        code,
        ...(subcode ? { error_subcode: subcode } : {}),
        fbtrace_id: fbtraceId(),
      },
    }, status);
  }

  /** Handles the Graph paths ownsGraphPath() claims; `path` follows the /graph prefix. */
  handleGraph(request: Request, path: string): Response {
    const url = new URL(request.url);
    const endpoint = path.replace(/^\/v\d+\.\d+/, "");
    return this.record(
      "facebook",
      `${request.method} ${endpoint.replace(/^\/\d+$/, "/{id}")}`,
      (() => {
        if (endpoint === "/oauth/access_token" && request.method === "GET") {
          return this.facebookToken(url.searchParams);
        }
        if (endpoint === "/me/permissions" && request.method === "DELETE") {
          const token = this.liveToken("facebook", request, url);
          if (!token) return this.graphError("Invalid OAuth access token data.", 190);
          for (const t of this.tokens.values()) if (t.platform === "facebook") t.revoked = true;
          return json({ success: true });
        }
        if (endpoint === "/me/permissions" && request.method === "GET") {
          const token = this.liveToken("facebook", request, url);
          if (!token) return this.graphError("Invalid OAuth access token data.", 190);
          return json({
            data: token.scopes.map((permission) => ({ permission, status: "granted" })),
          });
        }
        if (request.method === "GET" && (endpoint === "/me" || /^\/\d+$/.test(endpoint))) {
          const token = this.liveToken("facebook", request, url);
          if (!token) return this.graphError("Invalid OAuth access token data.", 190);
          const id = endpoint === "/me" ? socialAccounts.facebook.id : endpoint.slice(1);
          if (id !== socialAccounts.facebook.id) {
            return this.graphError(
              `Unsupported get request. Object with ID '${id}' does not exist, cannot be loaded ` +
                "due to missing permissions, or does not support this operation.",
              100,
              33,
            );
          }
          return json({ id, name: socialAccounts.facebook.name });
        }
        return this.graphError("Unknown path components", 2500);
      })(),
    );
  }

  private facebookToken(q: URLSearchParams): Response {
    const { id, secret } = this.credentials("facebook");
    const fault = this.failNext.get("facebook");
    if (fault) {
      this.failNext.delete("facebook");
      return this.graphError(
        `Sandbox fault: ${fault.error}`,
        fault.status >= 500 ? 1 : 100,
        undefined,
        fault.status,
      );
    }
    if (q.get("client_id") !== id) {
      return this.graphError("Error validating application. Invalid application ID.", 101);
    }
    if (q.get("client_secret") !== secret) {
      return this.graphError("Error validating client secret.", 1, 404078);
    }
    if (q.get("grant_type") === "fb_exchange_token") {
      const short = this.tokens.get(q.get("fb_exchange_token") ?? "");
      if (
        !short || short.platform !== "facebook" || short.revoked ||
        (short.expiresAt !== null && short.expiresAt <= this.now())
      ) return this.graphError("Invalid OAuth access token data.", 190);
      const long = this.issue("facebook", "access", short.scopes, 5_183_944);
      return json({ access_token: long.token, token_type: "bearer", expires_in: 5_183_944 });
    }
    const taken = this.takeCode(
      "facebook",
      q.get("code") ?? undefined,
      q.get("client_id") ?? undefined,
      q.get("redirect_uri") ?? undefined,
    );
    if (taken === "expired") {
      return this.graphError("This authorization code has expired.", 100, 36007);
    }
    if (taken === "used") {
      return this.graphError("This authorization code has been used.", 100, 36009);
    }
    if (taken === "mismatch") {
      return this.graphError(
        "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
        100,
        36008,
      );
    }
    if (taken === "invalid") {
      return this.graphError("Invalid verification code format.", 100, 36010);
    }
    const short = this.issue("facebook", "short_lived", taken.scopes, 5_400);
    return json({ access_token: short.token, token_type: "bearer", expires_in: 5_400 });
  }

  // ---- X ----

  private xOauthError(status: number, error: string, description: string): Response {
    return json({ error, error_description: description }, status);
  }

  private async handleX(request: Request, path: string): Promise<Response> {
    const url = new URL(request.url);
    if (path === "/i/oauth2/authorize" && request.method === "GET") {
      return this.record("x", "GET /i/oauth2/authorize", this.authorize("x", url));
    }
    if (path === "/2/oauth2/token" && request.method === "POST") {
      return this.record("x", "POST /2/oauth2/token", await this.xToken(request));
    }
    if (path === "/2/oauth2/revoke" && request.method === "POST") {
      const form = parseForm(await request.text());
      const auth = basicAuth(request.headers.get("authorization"));
      const { id, secret } = this.credentials("x");
      if (!auth || auth.user !== id || auth.password !== secret) {
        return this.record(
          "x",
          "POST /2/oauth2/revoke",
          this.xOauthError(401, "unauthorized_client", "Missing valid authorization header"),
        );
      }
      const token = this.tokens.get(String(form.token ?? ""));
      if (token?.platform === "x") token.revoked = true;
      return this.record("x", "POST /2/oauth2/revoke", json({ revoked: true }));
    }
    const users = path.match(/^\/2\/users\/(me|by\/username\/([A-Za-z0-9_]{1,15}))$/);
    if (users && request.method === "GET") {
      const endpoint = users[2] ? "GET /2/users/by/username/{username}" : "GET /2/users/me";
      const token = this.liveToken("x", request, url);
      if (!token) {
        return this.record(
          "x",
          endpoint,
          json(
            { title: "Unauthorized", type: "about:blank", status: 401, detail: "Unauthorized" },
            401,
          ),
        );
      }
      if (!users[2]) {
        const { id, name, username } = socialAccounts.x;
        return this.record("x", endpoint, json({ data: { id, name, username } }));
      }
      const wanted = users[2].toLowerCase();
      const found = wanted === socialAccounts.x.username
        ? {
          id: socialAccounts.x.id,
          name: socialAccounts.x.name,
          username: socialAccounts.x.username,
        }
        : this.xUsers.get(wanted);
      if (found) return this.record("x", endpoint, json({ data: found }));
      return this.record(
        "x",
        endpoint,
        json({
          errors: [{
            value: users[2],
            detail: `Could not find user with username: [${users[2]}].`,
            title: "Not Found Error",
            resource_type: "user",
            parameter: "username",
            resource_id: users[2],
            type: "https://api.twitter.com/2/problems/resource-not-found",
          }],
        }),
      );
    }
    return json({ title: "Not Found", type: "about:blank", status: 404, detail: "Not Found" }, 404);
  }

  private async xToken(request: Request): Promise<Response> {
    const form = parseForm(await request.text());
    const get = (name: string) => {
      const value = form[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const { id, secret } = this.credentials("x");
    const auth = basicAuth(request.headers.get("authorization"));
    if (!auth || auth.user !== id || auth.password !== secret) {
      return this.xOauthError(401, "unauthorized_client", "Missing valid authorization header");
    }
    const fault = this.failNext.get("x");
    if (fault) {
      this.failNext.delete("x");
      return this.xOauthError(fault.status, fault.error, "Sandbox fault.");
    }
    const grant = get("grant_type");
    if (grant === "refresh_token") {
      const old = this.tokens.get(get("refresh_token") ?? "");
      if (!old || old.platform !== "x" || old.kind !== "refresh" || old.revoked || old.rotated) {
        return this.xOauthError(400, "invalid_request", "Value passed for the token was invalid.");
      }
      old.rotated = true;
      return json(this.xTokens(old.scopes));
    }
    if (grant !== "authorization_code") {
      return this.xOauthError(
        400,
        "invalid_request",
        "Value passed for the grant type was invalid.",
      );
    }
    const verifier = get("code_verifier");
    if (!verifier) {
      return this.xOauthError(
        400,
        "invalid_request",
        "Missing required parameter [code_verifier].",
      );
    }
    const code = get("code");
    const issued = code ? this.codes.get(code) : undefined;
    if (issued && !issued.used && issued.platform === "x") {
      const expected = issued.challengeMethod === "plain" ? verifier : base64(
        new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
        true,
      );
      if (expected !== issued.challenge) {
        issued.used = true; // a failed PKCE check spends the code
        return this.xOauthError(
          400,
          "invalid_request",
          "Value passed for the code verifier was invalid.",
        );
      }
    }
    const taken = this.takeCode("x", code, id, get("redirect_uri"));
    if (typeof taken === "string") {
      return this.xOauthError(
        400,
        "invalid_request",
        "Value passed for the authorization code was invalid.",
      );
    }
    return json(this.xTokens(taken.scopes));
  }

  private xTokens(scopes: string[]) {
    const access = this.issue("x", "access", scopes, 7200);
    const refresh = scopes.includes("offline.access")
      ? this.issue("x", "refresh", scopes, null)
      : undefined;
    return {
      token_type: "bearer",
      expires_in: 7200,
      access_token: access.token,
      scope: scopes.join(" "),
      ...(refresh ? { refresh_token: refresh.token } : {}),
    };
  }

  // ---- LinkedIn ----

  private async handleLinkedin(request: Request, path: string): Promise<Response> {
    const url = new URL(request.url);
    if (path === "/oauth/v2/authorization" && request.method === "GET") {
      return this.record(
        "linkedin",
        "GET /oauth/v2/authorization",
        this.authorize("linkedin", url),
      );
    }
    if (path === "/oauth/v2/accessToken" && request.method === "POST") {
      return this.record(
        "linkedin",
        "POST /oauth/v2/accessToken",
        await this.linkedinToken(request),
      );
    }
    if (path === "/oauth/v2/revoke" && request.method === "POST") {
      const form = parseForm(await request.text());
      const { id, secret } = this.credentials("linkedin");
      if (form.client_id !== id || form.client_secret !== secret) {
        return this.record(
          "linkedin",
          "POST /oauth/v2/revoke",
          json({ error: "invalid_client", error_description: "Client authentication failed" }, 401),
        );
      }
      const token = this.tokens.get(String(form.token ?? ""));
      if (token?.platform === "linkedin") token.revoked = true;
      return this.record("linkedin", "POST /oauth/v2/revoke", new Response(null, { status: 200 }));
    }
    if (path === "/v2/userinfo" && request.method === "GET") {
      const token = this.liveToken("linkedin", request, url);
      if (!token) {
        return this.record(
          "linkedin",
          "GET /v2/userinfo",
          json({ serviceErrorCode: 65600, message: "Invalid access token", status: 401 }, 401),
        );
      }
      const a = socialAccounts.linkedin;
      return this.record(
        "linkedin",
        "GET /v2/userinfo",
        json({
          sub: a.sub,
          email_verified: true,
          name: a.name,
          locale: { country: "IN", language: "en" },
          given_name: a.given_name,
          family_name: a.family_name,
          email: a.email,
        }),
      );
    }
    return json({ serviceErrorCode: 0, message: "Resource not found", status: 404 }, 404);
  }

  private async linkedinToken(request: Request): Promise<Response> {
    const form = parseForm(await request.text());
    const get = (name: string) => {
      const value = form[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const { id, secret } = this.credentials("linkedin");
    if (get("client_id") !== id || get("client_secret") !== secret) {
      return json(
        { error: "invalid_client", error_description: "Client authentication failed" },
        401,
      );
    }
    const fault = this.failNext.get("linkedin");
    if (fault) {
      this.failNext.delete("linkedin");
      return json({ error: fault.error, error_description: "Sandbox fault." }, fault.status);
    }
    if (get("grant_type") !== "authorization_code") {
      return json({
        error: "unsupported_grant_type",
        error_description: 'A required parameter "grant_type" is missing or not supported',
      }, 400);
    }
    const taken = this.takeCode("linkedin", get("code"), get("client_id"), get("redirect_uri"));
    if (typeof taken === "string") {
      return json({
        error: "invalid_request",
        error_description: "Unable to retrieve access token: appid/redirect uri/code verifier " +
          "does not match authorization code. Or authorization code expired. Or external " +
          "member binding exists",
      }, 400);
    }
    const access = this.issue("linkedin", "access", taken.scopes, 5_184_000);
    return json({
      access_token: access.token,
      expires_in: 5_184_000,
      scope: taken.scopes.join(","),
      token_type: "Bearer",
    });
  }

  // ---- routing and control ----

  /** Handles a request under /facebook, /x or /linkedin; `path` follows the prefix. */
  async handle(
    prefix: "/facebook" | "/x" | "/linkedin",
    request: Request,
    path: string,
  ): Promise<Response> {
    if (prefix === "/facebook") {
      if (/^\/v\d+\.\d+\/dialog\/oauth$/.test(path) && request.method === "GET") {
        return this.record(
          "facebook",
          "GET /dialog/oauth",
          this.authorize("facebook", new URL(request.url)),
        );
      }
      return new Response("Not Found", { status: 404 });
    }
    if (prefix === "/x") return await this.handleX(request, path);
    return await this.handleLinkedin(request, path);
  }

  /** `POST /_control/social/{action}` and `GET /_inspect/social/{what}`; null when not ours. */
  async control(request: Request, path: string): Promise<Response | null> {
    const [area, vendor, action] = path.split("/").filter(Boolean);
    if (vendor !== "social") return null;
    if (area === "_inspect" && request.method === "GET") {
      if (action === "tokens") return json([...this.tokens.values()]);
      if (action === "calls") return json(this.calls);
      if (action === "codes") {
        return json(
          [...this.codes.values()].map(({ platform, used, issuedAt }) => ({
            platform,
            used,
            issuedAt,
          })),
        );
      }
      return json({ error: "not found" }, 404);
    }
    if (area !== "_control" || request.method !== "POST") return json({ error: "use POST" }, 405);
    const text = await request.text();
    let body: Record<string, unknown> = {};
    try {
      body = text.trim() === "" ? {} : JSON.parse(text);
    } catch {
      return json({ error: "the body is not JSON" }, 400);
    }
    const platform = body.platform as SocialPlatform;
    const needsPlatform = action === "fail-next" || action === "deny";
    if (needsPlatform && !platforms.includes(platform)) {
      return json({ error: `platform must be one of ${platforms.join(", ")}` }, 400);
    }
    if (action === "reset") {
      this.reset();
      return json({ ok: true });
    }
    if (action === "fail-next") {
      const status = body.status ?? 400;
      if (typeof status !== "number" || ![400, 401, 500, 503].includes(status)) {
        return json({ error: "status must be 400, 401, 500 or 503" }, 400);
      }
      const error = typeof body.error === "string" && body.error !== ""
        ? body.error
        : status >= 500
        ? "server_error"
        : "invalid_grant";
      this.failNext.set(platform, { status, error });
      return json({ platform, status, error });
    }
    if (action === "deny") {
      this.denyNext.add(platform);
      return json({ platform, deny: true });
    }
    if (action === "advance") {
      const seconds = body.seconds;
      if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
        return json({ error: "seconds must be a number from 0" }, 400);
      }
      this.offsetMs += seconds * 1000;
      return json({ now: new Date(this.now()).toISOString() });
    }
    if (action === "x-users") {
      const username = body.username;
      if (typeof username !== "string" || !/^[A-Za-z0-9_]{1,15}$/.test(username)) {
        return json({ error: "username must be 1-15 letters, digits or _" }, 400);
      }
      const user = {
        id: String(BigInt.asUintN(62, BigInt(`0x${randomHex(16)}`))),
        name: typeof body.name === "string" ? body.name : username,
        username,
      };
      this.xUsers.set(username.toLowerCase(), user);
      return json(user);
    }
    return json({ error: "not found" }, 404);
  }
}
