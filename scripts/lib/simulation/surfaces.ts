// The public surfaces the simulated desk drives: the API over HTTP as a signed-in user of the
// desk, and the vendor sandbox's control API as the customers and the vendors' weather.
import { SignJWT } from "jose";
import type postgres from "postgres";

/** Where the running stack answers, and what the desk signs its users' tokens with. */
export interface DeskStack {
  /** `http://127.0.0.1:PORT/functions/v1`. */
  functionsUrl: string;
  /** `http://127.0.0.1:PORT`: the vendor sandbox. */
  sandboxUrl: string;
  /** A superuser's URL of the stack's database: the policy feed, pg_cron's jobs, the reports. */
  databaseUrl: string;
  /** The project's JWT secret (SUPABASE_JWT_SECRET), to sign the desk users' tokens as GoTrue
   * would after their sign-in. */
  jwtSecret: string;
  /** The `iss` the functions expect of a user's token (JWT_ISSUER, else
   * `<SUPABASE_URL>/auth/v1`). */
  authIssuer: string;
}

/** An answer of the API or the sandbox: the status and the parsed JSON body (or the text). */
export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  try {
    return { status: response.status, body: text === "" ? {} : JSON.parse(text) };
  } catch {
    return { status: response.status, body: { text } };
  }
}

/** The API as desk users (admin, managers) call it. */
export class DeskApi {
  private tokens = new Map<string, string>();

  constructor(private stack: DeskStack, private sql: postgres.Sql) {}

  /**
   * An access token for the seeded user `email`, shaped as GoTrue's after a password sign-in
   * (the stack's issuer, audience authenticated, six hours' validity). Cached.
   */
  async tokenFor(email: string): Promise<string> {
    const cached = this.tokens.get(email);
    if (cached) return cached;
    const [user] = await this.sql`
      select id, raw_app_meta_data from auth.users where email = ${email}`;
    if (!user) throw new Error(`no user ${email}: the seed's organisation is missing`);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({
      sub: user.id,
      aud: "authenticated",
      role: "authenticated",
      email,
      app_metadata: { provider: "email", providers: ["email"], ...user.raw_app_meta_data },
      user_metadata: {},
      aal: "aal1",
      session_id: crypto.randomUUID(),
      is_anonymous: false,
    })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(this.stack.authIssuer)
      .setIssuedAt(now)
      .setExpirationTime(now + 6 * 3600)
      .sign(new TextEncoder().encode(this.stack.jwtSecret));
    this.tokens.set(email, token);
    return token;
  }

  /** `method` `/api<path>` as `email`, with a JSON body if given. */
  async call(email: string, method: string, path: string, body?: unknown): Promise<Answer> {
    const response = await fetch(`${this.stack.functionsUrl}/api${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await this.tokenFor(email)}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return await answer(response);
  }
}

/** POSTs a control request to the sandbox (`/_control/<path>`). */
export async function sandboxControl(
  sandboxUrl: string,
  path: string,
  body: unknown,
): Promise<Answer> {
  const response = await fetch(`${sandboxUrl}/_control/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return await answer(response);
}

/** Runs `work` over `items`, at most `limit` at a time; the results in the items' order. */
export async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
