// Shared by the journeys: the running stack's public surfaces (the functions over HTTP, the
// sandbox's control API), the database as pg_cron and the insurer's policy feed reach it, and
// the journeys' clock. scripts/test.ts starts the stack (scripts/lib/stack.ts) and sets the
// variables read here.
import postgres from "postgres";
import { userToken } from "../../scripts/lib/keys.ts";

function required(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: run the journeys with \`npm test\`.`);
  return value;
}

/** `http://127.0.0.1:PORT/functions/v1`: the gateway of the running stack. */
export const functionsUrl = required("E2E_FUNCTIONS_URL");
/** `http://127.0.0.1:PORT`: the vendor sandbox the functions and the worker talk to. */
export const sandboxUrl = required("E2E_SANDBOX_URL");

/** A journey test: one Deno test whose steps are the journey's arrows. */
export function journey(name: string, fn: (t: Deno.TestContext) => Promise<void>) {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

let admin: postgres.Sql | undefined;

/** A superuser connection: for the policy feed, pg_cron's job calls and the assertions. */
export function adminSql(): postgres.Sql {
  admin ??= postgres(required("TEST_ADMIN_DB_URL"), { max: 2, onnotice: () => {} });
  return admin;
}

/** An access token for a seeded user, as GoTrue would issue it. */
export async function tokenFor(email: string): Promise<string> {
  const [user] = await adminSql()`select id, email from auth.users where email = ${email}`;
  if (!user) throw new Error(`no seeded user ${email}`);
  return userToken({ id: user.id, email: user.email });
}

/** A request to the running gateway. */
export interface ApiCall {
  token?: string;
  method?: string;
  /** Sent as JSON; a string, FormData or bytes as they are. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** Calls any function of the stack over HTTP: `call("api/me", { token })`. */
export function call(
  path: string,
  { token, method = "GET", body, headers = {} }: ApiCall = {},
): Promise<Response> {
  const sent = new Headers(headers);
  if (token) sent.set("authorization", `Bearer ${token}`);
  const raw = body === undefined || typeof body === "string" || body instanceof FormData ||
    body instanceof Uint8Array;
  if (!raw && !sent.has("content-type")) sent.set("content-type", "application/json");
  return fetch(`${functionsUrl}/${path.replace(/^\//, "")}`, {
    method,
    headers: sent,
    body: raw ? body as BodyInit | undefined : JSON.stringify(body),
  });
}

/** Calls the `api` function: `api("/me", { token })`. */
export function api(path: string, init: ApiCall = {}): Promise<Response> {
  return call(`api${path}`, init);
}

/** The body of a response with the expected status, or an error quoting what came instead. */
export async function json<T = Record<string, unknown>>(
  response: Response,
  status = 200,
): Promise<T> {
  const text = await response.text();
  if (response.status !== status) {
    throw new Error(`expected ${status}, got ${response.status}: ${text.slice(0, 500)}`);
  }
  return JSON.parse(text) as T;
}

/** POST `/_control/<vendor>` on the sandbox (faults, outages, customers' actions). */
export async function sandboxControl<T = Record<string, unknown>>(
  vendor: string,
  body: Record<string, unknown>,
): Promise<T> {
  const response = await fetch(`${sandboxUrl}/_control/${vendor}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return await json<T>(response);
}

/** GET a sandbox path (its inspection endpoints), parsed as JSON. */
export async function sandboxGet<T = unknown>(path: string): Promise<T> {
  return await json<T>(await fetch(`${sandboxUrl}/${path.replace(/^\//, "")}`));
}

/**
 * Polls `check` until it returns something other than undefined, null or false, and returns
 * that; throws naming `what` with the last value after `timeoutMs` (the worker and the
 * sandbox's callbacks take their time; nothing here is a timing assertion).
 */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  { timeoutMs = 20_000, intervalMs = 200, what = "the condition" } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (true) {
    last = await check();
    if (last !== undefined && last !== null && last !== false) return last as T;
    if (Date.now() > deadline) {
      throw new Error(`${what}: not reached in ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

const istOffsetMs = 330 * 60_000;

/** Today's date in India (YYYY-MM-DD), the calendar the renewal rules count in. */
export function istToday(): string {
  return new Date(Date.now() + istOffsetMs).toISOString().slice(0, 10);
}

/** `days` after (or before, negative) an IST date, as an IST date. */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** The instant of wall-clock `time` (HH:MM) in India on `date`: an `as_of` for the jobs. */
export function istTime(date: string, time = "11:00"): Date {
  return new Date(Date.parse(`${date}T${time}:00+05:30`));
}
