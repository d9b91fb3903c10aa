// Shared by the payment tests: the webhooks function behind the functions gateway on a free port,
// the vendor sandbox's Razorpay posting its webhooks there, and the functions' RAZORPAY_*
// variables pointed at the sandbox. The api app reads its configuration once per test module, on
// first use, so a test module starts this harness at its top, before any request (each module
// runs in an isolate of its own; the environment is the process's, so close() takes the
// variables away again).
import assert from "node:assert/strict";
import { closeDb } from "../../functions/_shared/db.ts";
import { createWebhooksApp } from "../../functions/webhooks/app.ts";
import { type Sandbox, startSandbox } from "../../sandbox/mod.ts";
import { razorpayHmac } from "../../sandbox/razorpay_webhooks.ts";
import { gatewayHandler } from "../../scripts/gateway.ts";
import { adminSql, api, createCase, expectJson, tokenFor } from "./_helpers.ts";
import { control as sandboxControl } from "./_webhooks.ts";
import { createTemplate, enqueue } from "./_messaging.ts";

/** A running harness. */
export interface PaymentsHarness {
  sandbox: Sandbox;
  /** `${functionsUrl}/webhooks/razorpay`. */
  webhookUrl: string;
  close(): Promise<void>;
}

const razorpayVariables = [
  "RAZORPAY_BASE_URL",
  "RAZORPAY_KEY_ID",
  "RAZORPAY_KEY_SECRET",
  "RAZORPAY_WEBHOOK_SECRET",
  "RAZORPAY_WEBHOOK_SECRET_PREVIOUS",
] as const;

/** Starts the gateway (webhooks), the sandbox, and sets the RAZORPAY_* variables. */
export async function startPayments(): Promise<PaymentsHarness> {
  const app = createWebhooksApp();
  const handle = gatewayHandler(
    new Map([["webhooks", { name: "webhooks", verifyJwt: false, fetch: app.fetch }]]),
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handle);
  const webhookUrl = `http://127.0.0.1:${server.addr.port}/functions/v1/webhooks/razorpay`;
  const sandbox = await startSandbox({ webhooks: { razorpay: webhookUrl } });
  const c = sandbox.credentials;
  Deno.env.set("RAZORPAY_BASE_URL", `${sandbox.url}/razorpay`);
  Deno.env.set("RAZORPAY_KEY_ID", c.razorpayKeyId);
  Deno.env.set("RAZORPAY_KEY_SECRET", c.razorpayKeySecret);
  Deno.env.set("RAZORPAY_WEBHOOK_SECRET", c.razorpayWebhookSecret);
  return {
    sandbox,
    webhookUrl,
    close: async () => {
      await sandbox.close();
      await server.shutdown();
      await closeDb();
      for (const name of razorpayVariables) Deno.env.delete(name);
    },
  };
}

/** POSTs JSON to a sandbox control path (e.g. `razorpay/pay`): the webhooks harness's control,
 * its answer typed for the payment tests. */
export const control = <T = Record<string, unknown>>(
  sandbox: Sandbox,
  path: string,
  body: Record<string, unknown> = {},
): Promise<T> => sandboxControl(sandbox, path, body) as Promise<T>;

/** GETs a sandbox inspection path (e.g. `razorpay/deliveries`). */
export async function inspect<T = unknown>(sandbox: Sandbox, path: string): Promise<T> {
  const response = await fetch(`${sandbox.url}/_inspect/${path}`);
  assert.equal(response.status, 200, path);
  return await response.json() as T;
}

/** The agent who holds the test cases, and one who does not. */
export const agent = "farah.agent@py360.test";
export const otherAgent = "gopal.agent@py360.test";
export const admin = "admin@py360.test";

/** A fresh case of `agent` owing `amounts` (paise) in installments due a month apart. */
export async function caseOwing(amounts: number[] = [1500000]) {
  const fixture = await createCase(agent);
  const sql = adminSql();
  if (amounts.length !== 1 || amounts[0] !== 1500000) {
    await sql`delete from public.outstanding_amounts where case_id = ${fixture.caseId}`;
    for (const [i, amount] of amounts.entries()) {
      await sql`
        insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
        select id, ${i + 1}, due_date + ${30 * i}::int, ${amount}
          from public.renewal_cases where id = ${fixture.caseId}`;
    }
  }
  return fixture;
}

/** Opens an order for the case as its agent; the CheckoutOrder. */
export async function openOrder(caseId: string, body: Record<string, unknown> = {}) {
  const token = await tokenFor(agent);
  return await expectJson(
    await api(`/cases/${caseId}/payments`, { token, method: "POST", body }),
    201,
  ) as { order_id: string; amount: number; payment_order_id: string };
}

/** Waits until `check` holds (polling every 50 ms), failing after `ms`. */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The case's stage, what it owes, and its credited payments. */
export async function caseState(caseId: string) {
  const [row] = await adminSql()`
    select c.stage, public.case_outstanding(c.id)::int as outstanding,
           (select count(*)::int from public.payments p
             where p.case_id = c.id and p.credited_at is not null) as credited,
           (select count(*)::int from public.payment_allocations a
              join public.payments p on p.id = a.payment_id where p.case_id = c.id) as allocations
      from public.renewal_cases c where c.id = ${caseId}`;
  return row as { stage: string; outstanding: number; credited: number; allocations: number };
}

/**
 * Runs `task(0 … count-1)` with at most `limit` in flight (bounded concurrency, so a 1,000-fold
 * test loads the gateway and the pool the way a burst does without opening 1,000 sockets at
 * once); the results in index order. A task that throws fails the whole run after the others end.
 */
export async function pool<T>(
  limit: number,
  count: number,
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < count) {
      const index = next++;
      try {
        results[index] = await task(index);
      } catch (error) {
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  if (errors.length > 0) throw errors[0];
  return results;
}

/** A webhook event the sandbox made: its X-Razorpay-Event-Id, type and the exact body bytes. */
export interface MadeEvent {
  id: string;
  event: string;
  body: string;
  createdAt: number;
  secretVersion: number;
}

/** The events the sandbox made that mention `needle` (a pay_/order_/plink_/rfnd_ id). */
export async function madeEvents(sandbox: Sandbox, needle: string): Promise<MadeEvent[]> {
  const events = await inspect<MadeEvent[]>(sandbox, "razorpay/events");
  return events.filter((e) => e.body.includes(`"${needle}"`));
}

/**
 * POSTs `body` to the webhook URL as Razorpay would: X-Razorpay-Event-Id `eventId`, and
 * X-Razorpay-Signature = hex HMAC-SHA256(`secret`, body) unless `signature` is given (null: no
 * header at all). Signed with the sandbox's node:crypto signer, not the module under test.
 */
export function postWebhook(
  url: string,
  body: string,
  { secret, eventId, signature }: { secret?: string; eventId: string; signature?: string | null },
): Promise<Response> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-razorpay-event-id": eventId,
  };
  const sig = signature === undefined ? razorpayHmac(secret!, body) : signature;
  if (sig !== null) headers["x-razorpay-signature"] = sig;
  return fetch(url, { method: "POST", headers, body });
}

/**
 * Queues `count` reminders for the case through the gate (private.enqueue_messages), as the
 * reminder job would: SMS on a fresh `service` template (not transactional, so a case that closes
 * cancels them). Returns their message ids.
 */
export async function queueReminders(
  fixture: { caseId: string; customerId: string },
  count = 2,
): Promise<string[]> {
  reminderTemplate ??= createTemplate({
    purpose: "service",
    body: "Renew now {{customer_name}} -PYRNWL",
  })
    .then((t) => t.code);
  const code = await reminderTemplate;
  const ids = await enqueue(
    Array.from({ length: count }, () => ({
      customer_id: fixture.customerId,
      case_id: fixture.caseId,
      template_code: code,
    })),
  );
  assert.equal(ids.length, count, "every reminder is queued");
  return ids;
}
let reminderTemplate: Promise<string> | undefined;

/** The case's reminders: how many are still queued, how many cancelled, and when the last was. */
export async function reminderState(ids: string[]) {
  const [row] = await adminSql()`
    select count(*) filter (where status = 'queued')::int as queued,
           count(*) filter (where status = 'cancelled')::int as cancelled,
           max(cancelled_at) as last_cancelled_at
      from public.messages where id = any(${ids}::uuid[])`;
  return row as { queued: number; cancelled: number; last_cancelled_at: Date | null };
}

/** The stages a case moved to, oldest first, from the audit log (one row per real change). */
export async function stageChanges(caseId: string): Promise<string[]> {
  const rows = await adminSql()`
    select new_row ->> 'stage' as stage from public.audit_log
     where table_name = 'renewal_cases' and row_id = ${caseId} and action = 'update'
       and old_row ->> 'stage' is distinct from new_row ->> 'stage'
     order by id`;
  return rows.map((row) => row.stage as string);
}

/** How many messages a payment queued under an idempotency key (`receipt:` / `refund_due:`). */
export async function paymentMessages(key: string): Promise<number> {
  const [row] = await adminSql()`
    select count(*)::int as n from public.messages where idempotency_key = ${key}`;
  return row.n;
}
