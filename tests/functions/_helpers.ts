// Shared by the Deno tests: tokens for seeded users and calls into the api app in-process.
import assert from "node:assert/strict";
import postgres from "postgres";
import { SignJWT } from "jose";
import app from "../../functions/api/app.ts";
import { localJwtSecret, userToken } from "../../scripts/lib/keys.ts";

export {
  localApiKeyIssuer,
  localApiKeys,
  localAuthIssuer,
  localJwtSecret,
} from "../../scripts/lib/keys.ts";

/** Tests that use the shared database pool keep it open between tests on purpose. */
export function dbTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

let admin: postgres.Sql | undefined;

/** The test database's superuser URL (set by scripts/test.ts; the functions never see it). */
export function adminDbUrl(): string {
  const url = Deno.env.get("TEST_ADMIN_DB_URL");
  if (!url) throw new Error("TEST_ADMIN_DB_URL is not set: run the tests with `npm test`.");
  return url;
}

/** A superuser connection to the test database, for looking things up and checking state. */
export function adminSql(): postgres.Sql {
  admin ??= postgres(adminDbUrl(), { max: 2, onnotice: () => {} });
  return admin;
}

/** An access token for a seeded user, as GoTrue would issue it. */
export async function tokenFor(email: string): Promise<string> {
  const [user] = await adminSql()`select id, email from auth.users where email = ${email}`;
  if (!user) throw new Error(`no seeded user ${email}`);
  return userToken({ id: user.id, email: user.email });
}

/** A token signed with the local secret with exactly the claims the test gives (no defaults). */
export function signedToken(
  claims: Record<string, unknown>,
  { secret = localJwtSecret, expiresIn = "1h" } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

export interface Call {
  token?: string;
  method?: string;
  /** Sent as JSON; a string is sent verbatim. */
  body?: unknown;
  /** Content-Type of the body; null sends none. */
  contentType?: string | null;
  /** More request headers (e.g. Idempotency-Key). */
  headers?: Record<string, string>;
}

/** Calls the api app in-process, as the Supabase runtime would after routing. */
export function api(
  path: string,
  { token, method = "GET", body, contentType = "application/json", headers: extra = {} }: Call = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...extra };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined && contentType) headers["content-type"] = contentType;
  return Promise.resolve(app.request(`/api${path}`, {
    method,
    headers,
    // A string is sent as it is, so tests can send malformed JSON.
    body: body === undefined || typeof body === "string" ? body : JSON.stringify(body),
  }));
}

export interface CaseFixture {
  caseId: string;
  policyId: string;
  customerId: string;
  installmentId: string;
}

/** What a fixture case may differ in; each left out keeps createCase's default. */
export interface CaseOptions {
  /** The case's stage (default `new`), set after it is made. */
  stage?: string;
  /** The policy's premium and the one installment's amount, in paise (default 15,00,000). */
  premium?: number;
  /** Days from today (IST) to the policy's end and the case's due date (default 25). */
  dueInDays?: number;
  /** The customer's phone (default +919900000000, shared by every fixture customer). */
  phone?: string;
  /** The customer's email (default none). */
  email?: string;
  /** The customer's city (default none), for a campaign's audience filter. */
  city?: string;
  /** The customer has granted WhatsApp consent for service messages (default not). */
  whatsappOptIn?: boolean;
}

/**
 * A fresh customer, policy (motor), case and installment in the test database, held by
 * `agentEmail`.
 */
export async function createCase(
  agentEmail: string,
  {
    stage = "new",
    premium = 1500000,
    dueInDays = 25,
    phone = "+919900000000",
    email,
    city,
    whatsappOptIn = false,
  }: CaseOptions = {},
): Promise<CaseFixture> {
  const sql = adminSql();
  const tag = crypto.randomUUID().slice(0, 8).toUpperCase();
  const [row] = await sql`
    with agent as (select id from public.profiles where email = ${agentEmail}),
    customer as (
      insert into public.customers (full_name, phone, email, city)
      values (${"Test Customer " + tag}, ${phone}, ${email ?? null}, ${city ?? null}) returning id
    ),
    consent as (
      insert into public.consents (customer_id, channel, purpose, status, source)
      select id, 'whatsapp', 'service', 'granted', 'import' from customer
       where ${whatsappOptIn}::boolean
    ),
    policy as (
      insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date)
      select ${
    "TEST/" + tag
  }, 'motor', 'Test General', customer.id, agent.id, ${premium}::bigint, 60000000,
             today.d + ${dueInDays}::integer - 365, today.d + ${dueInDays}::integer
        from customer, agent, (select private.business_date(now()) as d) today
      returning id, customer_id, agent_id, end_date
    ),
    renewal as (
      insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
      select id, customer_id, agent_id, end_date, end_date from policy
      returning id, due_date
    ),
    installment as (
      insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
      select id, 1, due_date, ${premium}::bigint from renewal
      returning id
    )
    select renewal.id as case_id, policy.id as policy_id, policy.customer_id,
           installment.id as installment_id
      from renewal, policy, installment`;
  if (stage !== "new") {
    await sql`update public.renewal_cases set stage = ${stage} where id = ${row.case_id}`;
  }
  return {
    caseId: row.case_id,
    policyId: row.policy_id,
    customerId: row.customer_id,
    installmentId: row.installment_id,
  };
}

/** The row as the database holds it, to prove a refused request changed nothing. */
export async function snapshot(table: string, id: string): Promise<Record<string, unknown>> {
  const [row] = await adminSql()`select * from ${adminSql()(table)} where id = ${id}`;
  return row;
}

/** Asserts a problem+json answer with this status, and returns its body. */
export async function expectProblem(response: Response, status: number) {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  assert.equal(body.status, status);
  return body;
}

/** Asserts a JSON answer with this status, and returns its body. */
export async function expectJson(response: Response, status: number) {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  return body;
}
