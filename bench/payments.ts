// `npm run bench:payments -- [--payments 3000] [--concurrency 32] [--warmup 200] [--rounds 3]
//   [--profile 0]`
//
// Razorpay `payment.captured` webhooks through the functions gateway, each crediting a real
// payment with allocation, on a throwaway cluster (fsync off) with the migrations pushed and the
// demo organisation seeded. Beside it, in the same run, the reference: the outbound pipeline's
// plain status-callback ingest (signed Twilio `delivered` callbacks through the same gateway, as
// bench/messages.ts sends them; that webhook records deliveries arriving together in one
// statement of one round trip, functions/webhooks/events.ts, where a Razorpay event is a
// transaction of its own: begin, role, the ingest, commit). Nothing passes or fails on speed;
// a run whose webhooks did not all do their whole job exactly once fails, since its figures
// would mean nothing.
//
// - The book (bench/lib/payment_book.ts), made in bulk as the superuser before any timing: one
//   case per webhook, each owing two installments, with a `created` Razorpay order for both and
//   a service reminder queued through the gate; one `sent` SMS per case for the reference.
// - Each webhook is what Razorpay sends: the event envelope serialised like Razorpay's PHP
//   (sandbox/razorpay_webhooks.ts: `\/`, \uXXXX), a captured payment naming the case's order,
//   X-Razorpay-Signature = hex HMAC-SHA256 of the raw body with the webhook secret (the
//   sandbox's node:crypto signer, independent of the verifier), a unique X-Razorpay-Event-Id.
//   All are signed before timing: signing is Razorpay's work. So every webhook runs the full
//   path: signature, event stored, payment row, case lock, allocation to both installments,
//   installments paid, case renewed, the queued reminder cancelled, the receipt queued through
//   the gate.
// - The functions gateway (scripts/gateway.ts serving every
//   function) runs in its own process; `concurrency` loops each send and wait. After a warm-up
//   of both paths, reference and ours alternate in `rounds` chunks, so a busy minute on a shared
//   machine falls on both; rates are requests over the seconds of their own chunks, p50 / p95
//   over every request of the kind.
// - For information: the same payment events delivered again (Razorpay's retries and
//   duplicates): the dedupe path, answered `duplicate`.
// - Then every case is checked (bench/lib/payment_book.ts: checkPaymentBook).
// - `--profile N` (after the timed part, so its overhead is not in the figures): N more of each
//   kind one at a time (the latency with nothing else in flight); N more of each at the bench's
//   concurrency with track_functions = all, the SQL and PL/pgSQL functions by time per call;
//   then one ingest on a warm session, plainly and with auto_explain (nested statements,
//   analyze), rolled back, its statements by time.
import { parseArgs } from "node:util";
import postgres from "postgres";
import { defaultSandboxCredentials } from "../sandbox/mod.ts";
import { razorpayAccountId, razorpayHmac, razorpayJson } from "../sandbox/razorpay_webhooks.ts";
import { twilioSignature } from "../sandbox/sign.ts";
import { throwawayCluster } from "../scripts/lib/cluster.ts";
import { localAuthenticatorUrl } from "../scripts/lib/keys.ts";
import { ensureDebianPackages } from "../scripts/lib/packages.ts";
import { freePort } from "../scripts/lib/ports.ts";
import {
  applyPlatform,
  applySqlFiles,
  pushMigrations,
  setLocalAuthenticatorPassword,
} from "../scripts/lib/schema.ts";
import { projectRoot } from "../scripts/lib/run.ts";
import { removeOnExitSignals } from "../scripts/lib/signals.ts";
import { perSecond, runLoad, times } from "./lib/load.ts";
import { loadAverage, printMachine } from "./lib/machine.ts";
import { checkPaymentBook, type PayableCase, preparePaymentBook } from "./lib/payment_book.ts";
import { killAll, spawnDeno, stopAll } from "../scripts/lib/processes.ts";
import { expectAll, Series } from "./lib/series.ts";
import { count, heading, rowPrinter } from "./lib/report.ts";
import { BenchRecorder } from "./lib/results.ts";

/** One line of figures: a label, then right-aligned cells. */
const row = rowPrinter(48);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    payments: { type: "string", default: "3000" },
    concurrency: { type: "string", default: "32" },
    warmup: { type: "string", default: "200" },
    rounds: { type: "string", default: "3" },
    profile: { type: "string", default: "0" },
  },
});
const payments = Number(values.payments);
const concurrency = Number(values.concurrency);
const warmup = Number(values.warmup);
const rounds = Math.max(1, Number(values.rounds));
const profiled = Number(values.profile);
for (const [name, value] of Object.entries({ payments, concurrency, warmup, profiled })) {
  if (
    !Number.isInteger(value) || value < 0 || (name !== "warmup" && name !== "profiled" && !value)
  ) {
    throw new Error(`--${name === "profiled" ? "profile" : name} must be a whole number`);
  }
}

const twilioSid = defaultSandboxCredentials.twilioAccountSid;
const twilioToken = defaultSandboxCredentials.twilioAuthToken;
const webhookSecret = defaultSandboxCredentials.razorpayWebhookSecret;
/** Cases paid (and callbacks sent): warm-up, timed run, profile (alone and timed); one more case
 * for the EXPLAIN. */
const paid = warmup + payments + 2 * profiled;
const bookSize = paid + (profiled > 0 ? 1 : 0);
const started = performance.now();

// For the suite (bench/suite.ts): a step per phase, a figure per row printed. No issue set a
// goal for the payment webhook.
const recorder = new BenchRecorder(
  "payments",
  "Payments: Razorpay webhooks with allocation",
  { payments, concurrency, warmup, rounds, ...(profiled > 0 ? { profile: profiled } : {}) },
  6 + (profiled > 0 ? 1 : 0),
);
recorder.note(
  "Each payment webhook settles a case the whole way (event, payment, allocation to two " +
    "installments, renewal, reminder cancelled, receipt queued); every case is checked " +
    "afterwards. No issue set a goal for it; ratios are rates over rates.",
);
recorder.step("a throwaway cluster, the migrations, the seed");
await ensureDebianPackages();
const cluster = await throwawayCluster();
// Removed at the end, or on Ctrl-C / SIGTERM (children first: they hold connections).
const removeCluster = removeOnExitSignals(cluster, killAll);
try {
  await cluster.init();
  await cluster.start();
  const url = cluster.url();
  await applyPlatform(url);
  await pushMigrations(url);
  await setLocalAuthenticatorPassword(url);
  await applySqlFiles(url, [`${projectRoot}/seed/00_org.sql`]);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  await printMachine(sql);

  recorder.step("the book: cases, installments, orders, reminders");
  const prepared = performance.now();
  const { cases, sent } = await preparePaymentBook(sql, bookSize);
  console.log(
    `Book: ${count(bookSize)} cases (two installments, a Razorpay order and a queued reminder ` +
      `each) and as many sent SMS, made in ${((performance.now() - prepared) / 1000).toFixed(1)} s`,
  );

  const gatewayPort = freePort();
  const functionsUrl = `http://127.0.0.1:${gatewayPort}/functions/v1`;
  const gateway = spawnDeno("gateway", "scripts/gateway.ts", [String(gatewayPort)], {
    FUNCTIONS_DB_URL: localAuthenticatorUrl(url),
    PUBLIC_FUNCTIONS_URL: functionsUrl,
    TWILIO_ACCOUNT_SID: twilioSid,
    TWILIO_AUTH_TOKEN: twilioToken,
    RAZORPAY_WEBHOOK_SECRET: webhookSecret,
    LOG_LEVEL: "error",
  });
  try {
    await gateway.waitFor(/^gateway on /);

    recorder.step("signing the webhooks, the warm-up");
    // Signed before timing: signing is the vendors' work, not ours.
    const webhooks = cases.map(paymentCaptured);
    const callbacks = await Promise.all(sent.map(async (message) => {
      const params: Record<string, string> = {
        SmsSid: message.sid,
        SmsStatus: "delivered",
        MessageStatus: "delivered",
        To: message.recipient,
        MessageSid: message.sid,
        AccountSid: twilioSid,
        From: "PYRNWL",
        ApiVersion: "2010-04-01",
        RawDlrDoneDate: "2611291230",
      };
      const query = `twilio?message_id=${message.id}`;
      const signature = await twilioSignature(
        twilioToken,
        `${functionsUrl}/webhooks/${query}`,
        params,
      );
      return { query, signature, body: new URLSearchParams(params).toString() };
    }));

    /** Razorpay's delivery of webhook `index`; true when answered 200 with `outcome`. */
    const deliver = (outcome: string) => async (index: number) => {
      const { eventId, signature, body } = webhooks[index];
      const response = await fetch(`${functionsUrl}/webhooks/razorpay`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-razorpay-signature": signature,
          "x-razorpay-event-id": eventId,
          "user-agent": "Razorpay-Webhook/v1",
        },
        body,
      });
      const text = await response.text();
      if (response.status !== 200 || JSON.parse(text).outcome !== outcome) {
        throw new Error(`webhook ${index}: ${response.status} ${text}`);
      }
      return true;
    };
    /** Twilio's status callback for message `index`; true when answered 204. */
    const callBack = async (index: number) => {
      const { query, signature, body } = callbacks[index];
      const response = await fetch(`${functionsUrl}/webhooks/${query}`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded; charset=utf-8",
          "x-twilio-signature": signature,
        },
        body,
      });
      const text = await response.text();
      if (response.status !== 204) throw new Error(`callback ${index}: ${response.status} ${text}`);
      return true;
    };

    heading(
      `Webhook ingest through the functions gateway (own process), ${concurrency} at a time: ` +
        `${count(payments)} of each after a warm-up of ${count(warmup)}, in ${rounds} ` +
        `alternating rounds`,
    );
    expectAll(await runLoad(warmup, concurrency, (i) => callBack(i)));
    expectAll(await runLoad(warmup, concurrency, deliver("applied")));

    recorder.step(`${count(payments)} of each in ${rounds} alternating rounds`);
    const ours = new Series(concurrency);
    const reference = new Series(concurrency);
    for (let round = 0; round < rounds; round++) {
      const from = warmup + Math.floor((payments * round) / rounds);
      const to = warmup + Math.floor((payments * (round + 1)) / rounds);
      await reference.run(to - from, (i) => callBack(from + i));
      await ours.run(to - from, (i) => deliver("applied")(from + i));
    }
    recorder.step("the same events again (the dedupe path)");
    const duplicates = new Series(concurrency);
    await duplicates.run(payments, (i) => deliver("duplicate")(warmup + i));

    const loadAtEnd = loadAverage();
    const figures = (s: Series) =>
      `${perSecond(s.rate)}, p50 ${s.p50.toFixed(1)} ms, p95 ${s.p95.toFixed(1)} ms`;
    row(["ours: payment.captured with allocation -> 200", figures(ours)]);
    row(["reference: Twilio delivered callback -> 204", figures(reference)]);
    row(["for information: the same events again -> 200", figures(duplicates)]);
    console.log(
      `ours / reference: rate ${times(ours.rate / reference.rate)}, p50 ${
        times(ours.p50 / reference.p50)
      }, p95 ${times(ours.p95 / reference.p95)}; duplicates / ours: rate ${
        times(duplicates.rate / ours.rate)
      }`,
    );
    console.log(`Load average at the end of the timed part: ${loadAtEnd}`);
    const rateAndLatency = (s: Series) =>
      `${perSecond(s.rate)}, p50 ${s.p50.toFixed(1)} ms, p95 ${s.p95.toFixed(1)} ms`;
    const twilio = `signed Twilio status callbacks, same gateway: ${rateAndLatency(reference)}`;
    recorder.figure({
      what: `webhook ingest, signed Razorpay payment.captured with allocation, ${concurrency} ` +
        "at a time",
      ours: rateAndLatency(ours),
      reference: twilio,
      ratio: ours.rate / reference.rate,
    });
    recorder.figure({
      what: "the same events delivered again (the dedupe path)",
      ours: rateAndLatency(duplicates),
      reference: twilio,
      ratio: duplicates.rate / reference.rate,
    });

    if (profiled > 0) {
      recorder.step("profile");
      // One at a time first: the latency of each kind with nothing else in flight.
      const first = warmup + payments;
      const alone = new Series(1);
      const referenceAlone = new Series(1);
      await referenceAlone.run(profiled, (i) => callBack(first + i));
      await alone.run(profiled, (i) => deliver("applied")(first + i));
      heading(`${count(profiled)} more of each, one at a time (load average ${loadAverage()}):`);
      const latency = (s: Series) => `p50 ${s.p50.toFixed(1)} ms, p95 ${s.p95.toFixed(1)} ms`;
      row(["ours: payment.captured with allocation", latency(alone)]);
      row(["reference: Twilio delivered callback", latency(referenceAlone)]);
      recorder.figure({
        what: `${count(profiled)} more, one at a time`,
        ours: latency(alone),
        reference: `Twilio callbacks one at a time: ${latency(referenceAlone)}`,
        ratio: alone.p50 / referenceAlone.p50,
      });
      recorder.note("One at a time, the ratio is time over time (p50 over p50).");
      await profile(
        sql,
        "Twilio callbacks",
        "private.record_message_events",
        profiled,
        (i) => callBack(first + profiled + i),
        6,
      );
      await profile(
        sql,
        "payment webhooks",
        "private.ingest_razorpay_event",
        profiled,
        (i) => deliver("applied")(first + profiled + i),
        18,
      );
      await explainOne(webhooks[paid]);
    }

    recorder.step("checking every case");
    const failures = await checkPaymentBook(sql, { paid, delivered: paid });
    if (failures.length > 0) {
      throw new Error(
        `the run is void, the book is not as the webhooks should leave it:\n  ${
          failures.join("\n  ")
        }`,
      );
    }
    console.log(
      `\nChecked: ${count(paid)} cases each credited once by one stored event (one allocation ` +
        "per installment, summing to the payment), both installments paid, the order paid, the " +
        "case renewed by one stage change, its reminder cancelled, one receipt queued; the " +
        `duplicates stored nothing; ${count(paid)} callbacks delivered.`,
    );

    heading("README row (the pipeline's table):");
    console.log(
      `| webhook ingest, signed Razorpay payment.captured with allocation, ${concurrency} at a ` +
        `time | ${perSecond(ours.rate)}, p50 ${ours.p50.toFixed(0)} ms, p95 ${
          ours.p95.toFixed(0)
        } ms | signed Twilio status callbacks, same gateway: ${perSecond(reference.rate)}, p50 ${
          reference.p50.toFixed(0)
        } ms, p95 ${reference.p95.toFixed(0)} ms | ${times(ours.rate / reference.rate)} (p95 ${
          times(ours.p95 / reference.p95)
        }) | none set |`,
    );
    console.log(
      `| the same events delivered again (dedupe) | ${perSecond(duplicates.rate)}, p50 ${
        duplicates.p50.toFixed(0)
      } ms, p95 ${duplicates.p95.toFixed(0)} ms | | ${
        times(duplicates.rate / reference.rate)
      } | for information |`,
    );
    console.log(
      `(load average ${loadAtEnd} at the end; the whole run took ${
        ((performance.now() - started) / 1000).toFixed(0)
      } s)`,
    );
  } finally {
    await gateway.stop();
  }
  await sql.end();
  await recorder.save();
} finally {
  await stopAll();
  await removeCluster();
}

/** A signed `payment.captured` webhook, as Razorpay delivers it. */
interface SignedWebhook {
  /** X-Razorpay-Event-Id. */
  eventId: string;
  /** X-Razorpay-Signature: hex HMAC-SHA256(webhook secret, body). */
  signature: string;
  /** The raw body, serialised as Razorpay does. */
  body: string;
}

/**
 * The webhook of a customer paying `target`'s whole order by UPI, captured: the payment entity
 * as Razorpay's API answers it (sandbox/razorpay_store.ts), dated now, with a unique payment and
 * event id (ours are `pay_` / `evt_` + 14 alphanumerics, like Razorpay's).
 */
function paymentCaptured(target: PayableCase): SignedWebhook {
  const now = Math.floor(Date.now() / 1000);
  const fee = Math.round(target.amount * 0.02);
  const payment = {
    id: `pay_Bench${base62(target.n, 9)}`,
    entity: "payment",
    amount: target.amount,
    currency: "INR",
    status: "captured",
    order_id: target.razorpayOrderId,
    invoice_id: null,
    international: false,
    method: "upi",
    amount_refunded: 0,
    refund_status: null,
    captured: true,
    description: "Renewal premium",
    card_id: null,
    bank: null,
    wallet: null,
    vpa: "customer@okhdfcbank",
    email: target.email,
    contact: target.phone,
    notes: [],
    fee,
    tax: Math.round((fee * 18) / 118),
    error_code: null,
    error_description: null,
    error_source: null,
    error_step: null,
    error_reason: null,
    acquirer_data: { rrn: String(400000000000 + target.n) },
    created_at: now,
  };
  const body = razorpayJson({
    entity: "event",
    account_id: razorpayAccountId,
    event: "payment.captured",
    contains: ["payment"],
    payload: { payment: { entity: payment } },
    created_at: now,
  });
  return {
    eventId: `evt_Bench${base62(target.n, 9)}`,
    signature: razorpayHmac(webhookSecret, body),
    body,
  };
}

/** `n` in base 62, left-padded with zeros to `width`. */
function base62(n: number, width: number): string {
  const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let text = "";
  for (let rest = n; rest > 0; rest = Math.floor(rest / 62)) text = digits[rest % 62] + text;
  return text.padStart(width, "0");
}

/**
 * Sends `total` requests through `send` (index 0 ..) with track_functions = all (set for the
 * cluster and reset after) and prints the SQL and PL/pgSQL functions they ran by self time (at most
 * `top`), in ms per request, with the load's rate and p50 (timing on) and how often `entry`
 * (the function the webhook calls) ran: the Twilio webhook records concurrent deliveries together.
 */
async function profile(
  sql: postgres.Sql,
  what: string,
  entry: string,
  total: number,
  send: (index: number) => Promise<boolean>,
  top: number,
) {
  heading(
    `Profile: ${count(total)} more ${what}, ${concurrency} at a time, track_functions = all ` +
      "(ms per request; total includes the functions a function calls)",
  );
  await sql`alter system set track_functions = 'all'`;
  await sql`select pg_reload_conf()`;
  await new Promise((resolve) => setTimeout(resolve, 500));
  await sql`select pg_stat_reset()`;
  const result = await runLoad(total, concurrency, send);
  expectAll(result);
  // Idle backends flush their function statistics within about 10 s (PGSTAT_IDLE_INTERVAL);
  // figures are per call of `entry`, whichever backends have flushed by then.
  await new Promise((resolve) => setTimeout(resolve, 11_000));
  const rows = await sql`
    select schemaname || '.' || funcname as name, calls::int,
           total_time / ${total}::int as total_ms, self_time / ${total}::int as self_ms
      from pg_stat_user_functions
     order by self_time desc
     limit ${top}`;
  const [calls] = await sql`
    select coalesce(sum(calls), 0)::int as n from pg_stat_user_functions
     where schemaname || '.' || funcname = ${entry}`;
  await sql`alter system reset track_functions`;
  await sql`select pg_reload_conf()`;
  console.log(
    `  (${perSecond(result.rate)}, p50 ${result.p50.toFixed(1)} ms with timing on; ${entry} ` +
      `called ${calls.n} times for ${total} requests)\n  ` +
      `${"function".padEnd(58)} ${"calls".padStart(7)}  total ms  self ms`,
  );
  for (const r of rows) {
    console.log(
      `  ${String(r.name).padEnd(58)} ${String(r.calls).padStart(7)}  ${
        r.total_ms.toFixed(3).padStart(8)
      }  ${r.self_ms.toFixed(3).padStart(7)}`,
    );
  }
}

/**
 * Runs one more webhook's ingest in a transaction rolled back, as service_role, ten times to warm
 * the session, then once with auto_explain logging every nested statement's plan and duration;
 * prints the call's time (plain, and under auto_explain) and its slowest statements.
 */
async function explainOne(webhook: SignedWebhook) {
  heading(
    "One ingest on a warm session, then under auto_explain (analyze without per-node timing, " +
      "nested statements), rolled back:",
  );
  const plans: { ms: number; text: string }[] = [];
  const explained = postgres(cluster.url(), {
    max: 1,
    onnotice: (notice) => {
      // "duration: 1.234 ms  plan:\nQuery Text: <statement, maybe several lines>\n<plan>"
      const message = String(notice.message ?? "");
      const ms = Number(message.match(/^duration: ([0-9.]+) ms/)?.[1]);
      if (!Number.isFinite(ms)) return;
      const lines = message.split("\n");
      const from = lines.findIndex((line) => line.startsWith("Query Text:"));
      const plan = lines.findIndex((line, i) => i > from && line.includes("(cost="));
      const text = lines.slice(from, plan < 0 ? undefined : plan).join(" ")
        .replace(/^Query Text:/, "").replace(/\s+/g, " ").trim();
      plans.push({ ms, text });
    },
  });
  const rollback = new Error("rollback");
  let outcome = "";
  let plain = 0;
  /** One ingest of `webhook` as the webhook runs it (service_role), rolled back. */
  const ingestOnce = (logged: boolean) =>
    explained.begin(async (tx) => {
      await tx`select set_config('auto_explain.log_min_duration', ${logged ? "0" : "-1"}, true)`;
      await tx`set local auto_explain.log_analyze = on`;
      await tx`set local auto_explain.log_timing = off`; // each statement's duration stays
      await tx`set local auto_explain.log_nested_statements = on`;
      await tx`set local auto_explain.log_level = notice`;
      await tx`set local role service_role`;
      await tx`select set_config('request.jwt.claims', '{"role":"service_role"}', true)`;
      const started = performance.now();
      const [row] = await tx`
        select outcome from private.ingest_razorpay_event(
          ${webhook.eventId}, ${tx.json(JSON.parse(webhook.body))}::jsonb, 'current')`;
      if (!logged) plain = performance.now() - started;
      outcome = row.outcome;
      throw rollback;
    }).catch((error) => {
      if (error !== rollback) throw error;
    });
  try {
    await explained`load 'auto_explain'`;
    // Warm the session's plan caches first (a fresh connection plans every statement of every
    // function once: several times the steady cost); the last of these is timed plainly.
    for (let i = 0; i < 10; i++) await ingestOnce(false);
    await ingestOnce(true);
  } finally {
    await explained.end();
  }
  if (outcome !== "applied") throw new Error(`the explained ingest was ${outcome}`);
  const top = plans.reduce((a, b) => (b.ms > a.ms ? b : a)); // the call itself
  console.log(
    `  the call: ${plain.toFixed(2)} ms alone (warm session, statement round trip), ` +
      `${top.ms.toFixed(2)} ms under auto_explain; its statements by time:`,
  );
  for (const plan of plans.filter((p) => p !== top).sort((a, b) => b.ms - a.ms).slice(0, 12)) {
    console.log(`  ${plan.ms.toFixed(3).padStart(8)} ms  ${plan.text.slice(0, 110)}`);
  }
}
