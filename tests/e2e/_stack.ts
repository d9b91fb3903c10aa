// Shared by the journeys: the running stack's public surfaces (the functions over HTTP, the
// sandbox's control API and what its vendors accepted), the database as pg_cron and the insurer's
// policy feed reach it (pg_cron's job functions with as_of), the operator's settings a journey
// holds for its run, the outbox as the worker moves it, the tidying up after a journey, and the
// journeys' clock. The policy feed and its customers are in _book.ts; what only one journey
// needs stays in that journey's helper. scripts/test.ts starts the stack (scripts/lib/stack.ts)
// and sets the variables read here.
import postgres from "postgres";
import { userToken } from "../../scripts/lib/keys.ts";
import { defaultFaults } from "../../sandbox/mod.ts";

function required(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: run the journeys with \`npm test\`.`);
  return value;
}

/** `http://127.0.0.1:PORT/functions/v1`: the gateway of the running stack. */
export const functionsUrl = required("E2E_FUNCTIONS_URL");
/** `http://127.0.0.1:PORT`: the vendor sandbox the functions and the worker talk to. */
export const sandboxUrl = required("E2E_SANDBOX_URL");

/**
 * A journey test: one Deno test whose steps are the journey's arrows. Around `fn` it holds the
 * send hours open (openSendHours: the worker claims at the real hour, and CI runs at any hour)
 * and, in a finally, retires every case still open that was created since the journey began
 * (retireCasesSince), so that no journey meets another's leftovers, whatever the order.
 */
export function journey(name: string, fn: (t: Deno.TestContext) => Promise<void>) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async (t) => {
      const [{ began }] = await adminSql()<{ began: Date }[]>`select clock_timestamp() as began`;
      try {
        const restoreHours = await openSendHours();
        try {
          await fn(t);
        } finally {
          await restoreHours();
        }
      } finally {
        await retireCasesSince(began);
      }
    },
  });
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

/** The counts of a campaign's preview or launch, as the API answers them (CampaignCountsSchema). */
export interface CampaignCounts {
  audience: number;
  queued: number;
  deferred: number;
  blocked: number;
  blocked_reasons: Record<string, number>;
  /** The estimate, paise, as a decimal string. */
  estimated_cost_paise: string;
  created: number;
  status?: string;
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

const monthNames = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];

/** An IST date (YYYY-MM-DD) as the messages and documents write it: `3 Jan 2027`. */
export function messageDate(date: string): string {
  const [year, month, day] = date.split("-").map(Number);
  return `${day} ${monthNames[month - 1]} ${year}`;
}

// ---- The operator's settings, held for a journey ------------------------------------------

/**
 * Sets operator settings (public.app_settings: QUIET_HOURS, MESSAGE_RETRY, PROVIDER_BREAKER, …)
 * to `values` for a journey and returns what puts the previous values back (call it in
 * `finally`). A key not in the table is left absent. The journeys' clock is in the past, but the
 * worker claims at the real hour, so a journey that must run at any hour of CI holds the send
 * hours open, and one that plays an outage holds short retries and breaker pauses. Each write is
 * one transaction; `pastTheirRules` writes (and puts back) the values past the settings' check,
 * as the table's owner (adminSql is the superuser), for values their rules refuse.
 */
export async function holdSettings(
  values: Record<string, unknown>,
  { pastTheirRules = false }: { pastTheirRules?: boolean } = {},
): Promise<() => Promise<void>> {
  const sql = adminSql();
  const keys = Object.keys(values);
  const saved = await sql<{ key: string; value: unknown }[]>`
    select key, value from public.app_settings where key = any (${keys})`;
  const write = (settings: { key: string; value: unknown }[]) =>
    sql.begin(async (tx) => {
      // As tests/database/helpers/30_settings.sql does: the check is off only inside this
      // transaction, and no other session's write goes unchecked.
      if (pastTheirRules) {
        await tx`alter table public.app_settings disable trigger _050_check_value`;
      }
      for (const { key, value } of settings) {
        await tx`update public.app_settings set value = ${tx.json(value as never)}
                  where key = ${key}`;
      }
      if (pastTheirRules) {
        await tx`alter table public.app_settings enable always trigger _050_check_value`;
      }
    });
  await write(keys.map((key) => ({ key, value: values[key] })));
  return async () => {
    await write(saved);
  };
}

/**
 * Service messages and marketing at any hour (QUIET_HOURS and PROMOTIONAL_HOURS with equal ends:
 * always) for a journey, until the returned function puts the settings back. The worker's claim
 * re-checks both against the real clock, so quiet hours (21:00-08:00 IST) would hold a journey's
 * service messages until the morning, and promotional hours (10:00-21:00 IST) its marketing,
 * when the suite runs at night (its `as_of`s, at 11:00 IST, are inside the hours anyway).
 * journey() holds them for every journey; a journey that needs a message to wait asks for a due
 * time ahead of the real clock (an `as_of` in the future, a campaign's window) instead.
 * This is the test harness holding the promotional hours open: PROMOTIONAL_HOURS' rule refuses
 * equal ends to everyone else (TRAI's 10:00-21:00 is law; migration 20261201020000), so they are
 * written past the check.
 */
export function openSendHours(): Promise<() => Promise<void>> {
  return holdSettings({
    QUIET_HOURS: { start: "00:00", end: "00:00" },
    PROMOTIONAL_HOURS: { start: "00:00", end: "00:00" },
  }, { pastTheirRules: true });
}

/** The messaging vendors of the sandbox the journeys use (and their providers' names). */
export const messagingVendors = ["twilio", "aws_sns", "aws_ses", "sendgrid", "whatsapp_cloud"];

/**
 * Raises `providers`' shared send rates (provider_state.rate_per_second, the operator's limits:
 * e.g. SNS 20/s, SES 14/s, WhatsApp 80/s, Twilio 100/s by default) to `perSecond` for the
 * journey, with a full bucket, and returns what puts the rates back. A journey's messages go out
 * with those of every open case the suite's earlier tests left, all due at once; at the default
 * rates its own would wait minutes on the token bucket.
 */
export async function holdProviderRates(
  perSecond = 500,
  providers: string[] = messagingVendors,
): Promise<() => Promise<void>> {
  const sql = adminSql();
  const saved = await sql<{ provider: string; rate_per_second: number }[]>`
    select provider, rate_per_second from public.provider_state
     where provider = any (${providers})`;
  await sql`
    update public.provider_state set rate_per_second = ${perSecond}, tokens = ${perSecond},
           tokens_at = now()
     where provider = any (${providers})`;
  return async () => {
    for (const rate of saved) {
      await sql`
        update public.provider_state
           set rate_per_second = ${rate.rate_per_second},
               tokens = least(tokens, ${rate.rate_per_second})
         where provider = ${rate.provider}`;
    }
  };
}

// ---- The sandbox's vendors ----------------------------------------------------------------

/**
 * Starts a journey from an ordinary vendor day, whatever an earlier journey left set: through
 * the sandbox's control API, no faults and normal callbacks at every messaging vendor, and
 * OpenAI with its switches off (rate limit, quota, refusal, truncated, malformed); what the
 * vendors accepted so far is kept. Then waits (up to two minutes) until no messaging provider's
 * breaker is still in its pause (PROVIDER_BREAKER's open_seconds, default 30): a breaker left
 * open lets the next send through as its probe once the pause is over.
 */
export async function ordinaryVendorDay(): Promise<void> {
  for (const vendor of messagingVendors) await sandboxControl(vendor, { ...defaultFaults() });
  await sandboxControl("openai", {
    ...defaultFaults(),
    rateLimited: false,
    insufficientQuota: false,
    refusal: false,
    truncated: false,
    malformed: false,
  });
  const sql = adminSql();
  await eventually(async () => {
    const rows = await sql<{ breaker: string; until: Date | null }[]>`
      select ps.breaker, ps.breaker_since + make_interval(secs => coalesce(
               (private.setting('PROVIDER_BREAKER') ->> 'open_seconds')::numeric, 30)) as until
        from public.provider_state ps
       where ps.provider in ('twilio', 'aws_sns', 'aws_ses', 'sendgrid')`;
    return rows.every((r) => r.breaker !== "open" || (r.until && r.until.getTime() <= Date.now()));
  }, { what: "the messaging vendors' breakers out of their pause", timeoutMs: 120_000 });
}

/** A request a sandbox vendor accepted, as its inspection API lists it. */
export interface Accepted {
  /** The vendor's id for it (a provider message id, a payment link id, …). */
  id: string;
  /** The phone, address or WhatsApp id it went to. */
  to: string;
  body?: string;
  subject?: string;
  template?: string;
  params: Record<string, unknown>;
  /** Our id the request carried (a message id, a receipt, a reference id), if any. */
  ourId?: string;
}

/**
 * What `vendor` (twilio, aws_sns, aws_ses, sendgrid, whatsapp_cloud, razorpay, openai) accepted
 * (`GET /_inspect/<vendor>/requests`): those carrying our id `ourId`, or all of them, oldest
 * first. `T` narrows the shape for a vendor whose params a journey reads.
 */
export function acceptedBy<T = Accepted>(vendor: string, ourId?: string): Promise<T[]> {
  const query = ourId === undefined ? "" : `?ourId=${encodeURIComponent(ourId)}`;
  return sandboxGet<T[]>(`_inspect/${vendor}/requests${query}`);
}

// ---- pg_cron's jobs, called with as_of ----------------------------------------------------

/** What `private.run_daily_renewal_jobs` did (its counts cover the whole book, not one case). */
export interface DailyJobsResult {
  business_date: string;
  opened: number;
  pending_lapse: number;
  lapsed: number;
  overdue: number;
  [job: string]: unknown;
}

/** pg_cron's 06:00 IST daily renewal jobs, run for `asOf`. */
export async function runDailyJobs(asOf: Date): Promise<DailyJobsResult> {
  const [row] = await adminSql()`select private.run_daily_renewal_jobs(${asOf}) as result`;
  return row.result as DailyJobsResult;
}

/** pg_cron's reminder cadence, run for `asOf`: cases per outcome (queued, blocked, duplicate,
 * …), over the whole book. */
export async function runCadence(asOf: Date): Promise<Record<string, number>> {
  const rows = await adminSql()<{ outcome: string; cases: string }[]>`
    select outcome, cases from private.run_reminder_cadence(${asOf})`;
  return Object.fromEntries(rows.map((r) => [r.outcome, Number(r.cases)]));
}

/** pg_cron's nightly lapse-risk scoring, run for `asOf`: how many cases it scored. */
export async function scoreLapseRisk(asOf: Date): Promise<number> {
  const [row] =
    await adminSql()`select count(*)::integer as n from private.score_lapse_risk(${asOf})`;
  return row.n as number;
}

/** pg_cron's campaign flow job (`private.advance_campaign_flows`), run for `asOf` (default:
 * the database's now(), as pg_cron runs it). */
export async function advanceCampaignFlows(asOf?: Date): Promise<void> {
  if (asOf) await adminSql()`select * from private.advance_campaign_flows(${asOf})`;
  else await adminSql()`select * from private.advance_campaign_flows(now())`;
}

// ---- The outbox, as the worker and the vendors' callbacks move it -------------------------

/** A message's state while the worker and the callbacks move it (what a wait reports). */
export interface MessageState {
  id: string;
  status: string;
  provider: string | null;
  attempts: number;
  last_error_code: string | null;
  last_error: string | null;
  blocked_reason: string | null;
  deferred_reason: string | null;
  next_attempt_at: Date | null;
}

/** A message as the journeys read it from the outbox: public.messages with its template's code
 * and language. */
export interface OutboxRow {
  id: string;
  case_id: string | null;
  channel: string;
  purpose: string;
  template_code: string | null;
  template_language: string | null;
  idempotency_key: string;
  variables: Record<string, string>;
  recipient: string | null;
  subject: string | null;
  body: string;
  status: string;
  choice_reason: string | null;
  blocked_reason: string | null;
  deferred_reason: string | null;
  provider: string | null;
  provider_message_id: string | null;
  attempts: number;
  last_error_code: string | null;
  document_id: string | null;
  created_by: string | null;
  queued_at: Date;
  next_attempt_at: Date;
  sent_at: Date | null;
  delivered_at: Date | null;
  read_at: Date | null;
  cancelled_at: Date | null;
}

/**
 * The outbox's messages of a customer, of a case, or the one with an id: in the order they were
 * queued (`queued_at`, the as_of of a journey's timeline), or, with `order: "created"`, in the
 * order their rows were written.
 */
export async function outboxRows(
  of: { customerId: string } | { caseId: string } | { id: string },
  { order = "queued" }: { order?: "queued" | "created" } = {},
): Promise<OutboxRow[]> {
  const sql = adminSql();
  const where = "customerId" in of
    ? sql`m.customer_id = ${of.customerId}`
    : "caseId" in of
    ? sql`m.case_id = ${of.caseId}`
    : sql`m.id = ${of.id}`;
  return [
    ...await sql<OutboxRow[]>`
      select m.id, m.case_id, m.channel::text, m.purpose::text, t.code as template_code,
             t.language as template_language, m.idempotency_key, m.variables, m.recipient,
             m.subject, m.body, m.status::text, m.choice_reason, m.blocked_reason,
             m.deferred_reason, m.provider, m.provider_message_id, m.attempts::int,
             m.last_error_code, m.document_id, m.created_by, m.queued_at, m.next_attempt_at,
             m.sent_at, m.delivered_at, m.read_at, m.cancelled_at
        from public.messages m
        left join public.templates t on t.id = m.template_id
       where ${where}
       order by ${order === "queued" ? sql`m.queued_at,` : sql``} m.created_at, m.id`,
  ];
}

/** The state of messages `ids`, as the outbox holds it. */
async function messageStates(ids: string[]): Promise<MessageState[]> {
  return [
    ...await adminSql()<MessageState[]>`
      select id, status::text, provider, attempts::int, last_error_code, last_error,
             blocked_reason, deferred_reason, next_attempt_at
        from public.messages where id = any (${ids}::uuid[])`,
  ];
}

/**
 * Waits until each message of `ids` has one of `statuses` (the worker sends, the vendors'
 * callbacks deliver); returns them as `read` gives them (by default their state), at the poll
 * that saw them all there. Throws naming `what`, with the messages' state, after `timeoutMs`
 * (default a minute: the worker's start on a busy machine and the backlog of a cadence day).
 */
export async function messagesReach<T extends { id: string; status: string } = MessageState>(
  ids: string[],
  statuses: string[],
  {
    what = "the messages",
    timeoutMs = 60_000,
    read = messageStates as unknown as (ids: string[]) => Promise<T[]>,
  }: { what?: string; timeoutMs?: number; read?: (ids: string[]) => Promise<T[]> } = {},
): Promise<T[]> {
  try {
    return await eventually(async () => {
      const rows = (await read(ids)).filter((m) => ids.includes(m.id));
      return rows.length === ids.length && rows.every((m) => statuses.includes(m.status)) &&
        ids.map((id) => rows.find((m) => m.id === id)!);
    }, { what: `${what}: ${statuses.join(" or ")}`, timeoutMs });
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; the messages: ${JSON.stringify(await messageStates(ids))}`,
    );
  }
}

// ---- Tidying up --------------------------------------------------------------------------

/**
 * Retires (not_taken, "journey over") every case still open that was created at or after `since`
 * (the database's clock), whoever made it: the cases a journey opened or fed. A later journey's
 * cadence, run with an as_of in the past, reaches every open case of the book: retired, they
 * send their customers nothing and the later journey does not wait behind their reminders.
 * journey() calls it when a journey ends (the journeys run one after another, never side by
 * side). A case a rule refuses to close (an erased customer's) is left as it is. Returns how
 * many it retired.
 */
export async function retireCasesSince(since: Date): Promise<number> {
  const sql = adminSql();
  const open = (await sql<{ id: string }[]>`
    select id from public.renewal_cases
     where created_at >= ${since}
       and stage not in ('renewed', 'lapsed', 'lost', 'not_taken')`).map((r) => r.id);
  const retire = async (ids: string[]) =>
    (await sql`
      update public.renewal_cases set stage = 'not_taken', lost_reason = 'journey over'
       where id = any (${ids}::uuid[])
         and stage not in ('renewed', 'lapsed', 'lost', 'not_taken')`).count;
  try {
    return await retire(open);
  } catch {
    // A rule refused one of them (an erased customer's case stays as it is): the rest one by one.
    let retired = 0;
    for (const id of open) retired += await retire([id]).catch(() => 0);
    return retired;
  }
}
