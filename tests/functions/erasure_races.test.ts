// An erasure and the writers that race it (issue 13, review). Each test holds the erasure's
// transaction open on one connection, starts the other writer on a second connection, checks
// that it waits for a lock, then commits the erasure and judges what the writer did.
//
// The gate: a gate statement that read the customer before the erasure committed (it waits on
// the messages' foreign-key check while the erasure holds the customer's row) must not store a
// message queued to the person's old address: the messages' _050_block_erased_customers trigger
// (migration 20261130054931) blocks it, customer_erased, and clears it.
//
// Payments: opening a Checkout order, a payment link or autopay holds the case's lock
// (private.lock_case, FOR NO KEY UPDATE) and refuses an erased customer; the erasure locks the
// person's cases FOR UPDATE before its in-flight check. Whichever comes second waits for the
// first: an opener that waited for the erasure is refused (55000, the API's 409), and an erasure
// that waited for an opener sees what it opened, and is refused.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { adminSql, api, createCase, dbTest, expectProblem, tokenFor } from "./_helpers.ts";
import { actAs, namedConnection, waitsForLock } from "./_concurrency.ts";
import { startPayments } from "./_payments.ts";

// Razorpay's sandbox and settings: the API's payment routes need a configured client (nothing
// here reaches it: every call is refused before).
const payments = await startPayments();

const agent = "farah.agent@py360.test";
const reason = "the customer asked, by registered letter";

/** A customer of their own with a case, an email and a phone (nothing in flight). */
async function person() {
  const fixture = await createCase(agent);
  const tag = crypto.randomUUID().slice(0, 8);
  const email = `race.${tag}@erase.py360.test`;
  await adminSql()`update public.customers set email = ${email} where id = ${fixture.customerId}`;
  return { ...fixture, email };
}

/** One transactional email through the gate, as a producer calls it; its stored row. */
async function gate(sql: postgres.Sql, customerId: string, key: string) {
  const [row] = await sql<{ message_id: string; status: string; blocked_reason: string | null }[]>`
    select * from private.enqueue_messages(${
    sql.json({
      customer_id: customerId,
      channel: "email",
      purpose: "transactional",
      body: "Your receipt is attached.",
      idempotency_key: key,
    })
  }::jsonb)`;
  return row;
}

/** The stored message: what a dispatcher would read. */
async function stored(id: string) {
  const [row] = await adminSql()`
    select status::text, blocked_reason, recipient, body from public.messages where id = ${id}`;
  return row;
}

/**
 * Runs the erasure of `customerId` in a transaction held open until `second` (started once the
 * erasure is done, on a connection named `name`) waits for a lock; then commits the erasure and
 * returns what `second` returned.
 */
async function eraseWhile<T>(
  customerId: string,
  name: string,
  second: (sql: postgres.Sql) => Promise<T>,
): Promise<T> {
  const first = namedConnection(`${name}-erasure`);
  const other = namedConnection(name);
  let release!: () => void;
  const gateOpen = new Promise<void>((resolve) => release = resolve);
  let erased!: () => void;
  const done = new Promise<void>((resolve) => erased = resolve);
  try {
    const committed = first.begin(async (tx) => {
      await tx`select private.erase_customer(${customerId}, ${reason})`;
      erased();
      await gateOpen;
    });
    committed.catch(() => {});
    await done;
    const later = second(other);
    later.catch(() => {}); // judged below, after the erasure has committed
    await waitsForLock(name);
    release();
    await committed;
    return await later;
  } finally {
    release();
    await first.end();
    await other.end();
  }
}

dbTest(
  "gate racing an erasure: the message is blocked customer_erased, no address kept",
  async () => {
    // The same request for someone not erased is queued: the gate would let this one through.
    const control = await person();
    const queued = await gate(adminSql(), control.customerId, `race-control-${control.caseId}`);
    assert.equal(queued.status, "queued", queued.blocked_reason ?? "");
    assert.equal((await stored(queued.message_id)).recipient, control.email);

    const subject = await person();
    const raced = await eraseWhile(
      subject.customerId,
      "erasure-race-gate",
      (sql) => gate(sql, subject.customerId, `race-gate-${subject.caseId}`),
    );
    // The gate returns what it stored, after the trigger: blocked, and says why.
    assert.deepEqual([raced.status, raced.blocked_reason], ["blocked", "customer_erased"]);
    assert.deepEqual(await stored(raced.message_id), {
      status: "blocked",
      blocked_reason: "customer_erased",
      recipient: null,
      body: "[erased]",
    });
    const [left] = await adminSql()`
    select count(*)::int as n from public.messages
     where customer_id = ${subject.customerId}
       and (recipient = ${subject.email} or status in ('queued', 'sending'))`;
    assert.equal(left.n, 0, "no message of the erased customer holds their email or waits to go");
    // The control's message is untouched by the trigger of another statement.
    assert.equal((await stored(queued.message_id)).status, "queued");
  },
);

/** The openers the API calls, each as the case's agent would call it. */
const openers = {
  order: (tx: postgres.TransactionSql, caseId: string) =>
    tx`select * from private.open_payment_order(${caseId})`,
  link: (tx: postgres.TransactionSql, caseId: string) =>
    tx`select * from private.open_payment_link(${caseId})`,
  autopay: (tx: postgres.TransactionSql, caseId: string) =>
    tx`select * from private.open_autopay(${caseId})`,
};
type Opener = keyof typeof openers;

/** A customer whose case owes one monthly installment (autopay possible), nothing in flight. */
async function payer() {
  const fixture = await person();
  await adminSql()`
    update public.policies set payment_frequency = 'monthly' where id = ${fixture.policyId}`;
  return fixture;
}

/** The agent's user id (the cases of createCase are theirs). */
async function agentId(): Promise<string> {
  const [row] = await adminSql()`select id from auth.users where email = ${agent}`;
  return row.id;
}

/** What the case has opened: orders, links and mandates, by status. */
async function opened(caseId: string): Promise<string[]> {
  const rows = await adminSql()`
    select 'order ' || status as what from public.payment_orders where case_id = ${caseId}
    union all select 'link ' || status from public.payment_links where case_id = ${caseId}
    union all select 'autopay ' || status from public.autopay_mandates where case_id = ${caseId}
    order by 1`;
  return rows.map((r) => r.what as string);
}

/** Runs `work`, returning the SQLSTATE and message it failed with (or "ok"). */
async function outcome(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return "ok";
  } catch (e) {
    const error = e as { code?: string; message?: string };
    return `${error.code}: ${error.message}`;
  }
}

for (const kind of Object.keys(openers) as Opener[]) {
  dbTest(`${kind} opened while an erasure holds the case: waits, then refused 55000`, async () => {
    const subject = await payer();
    const user = await agentId();
    const result = await eraseWhile(
      subject.customerId,
      `erasure-race-${kind}`,
      (sql) =>
        outcome(sql.begin(async (tx) => {
          await actAs(tx, user);
          return await openers[kind](tx, subject.caseId);
        })),
    );
    assert.match(
      result,
      /^55000: the customer of case [0-9a-f-]{36} was erased on .*: no payment can be opened for them$/,
    );
    assert.deepEqual(await opened(subject.caseId), [], "nothing opened for the erased customer");
    const [erased] = await adminSql()`
      select erased_at is not null as erased from public.customers where id = ${subject.customerId}`;
    assert.equal(erased.erased, true);
  });
}

dbTest(
  "erasure while an order, link or autopay is being opened: waits, then refused 55000",
  async () => {
    const user = await agentId();
    for (
      const [kind, inFlight] of [
        ["order", "payment order"],
        ["link", "payment link"],
        ["autopay", "autopay mandate"],
      ] as [Opener, string][]
    ) {
      const subject = await payer();
      const name = `erasure-after-${kind}`;
      const first = namedConnection(`${name}-opener`);
      const second = namedConnection(name);
      let release!: () => void;
      const held = new Promise<void>((resolve) => release = resolve);
      let openedIt!: () => void;
      const done = new Promise<void>((resolve) => openedIt = resolve);
      try {
        const committed = first.begin(async (tx) => {
          await actAs(tx, user);
          await openers[kind](tx, subject.caseId);
          openedIt();
          await held;
        });
        committed.catch(() => {});
        await done;
        const erasure = outcome(
          second`select private.erase_customer(${subject.customerId}, ${reason})`,
        );
        await waitsForLock(name);
        release();
        await committed;
        const result = await erasure;
        assert.ok(
          result.startsWith(
            `55000: a payment is in flight for customer ${subject.customerId}: ${inFlight} `,
          ),
          `${kind}: ${result}`,
        );
        assert.equal((await opened(subject.caseId)).length, 1, `${kind}: the opened one stays`);
        const [row] = await adminSql()`
        select erased_at, email from public.customers where id = ${subject.customerId}`;
        assert.deepEqual([row.erased_at, row.email], [null, subject.email], `${kind}: not erased`);
      } finally {
        release();
        await first.end();
        await second.end();
      }
    }
  },
);

dbTest("the API answers 409 to an order, a link or autopay for an erased customer", async () => {
  const subject = await payer();
  await adminSql()`select private.erase_customer(${subject.customerId}, ${reason})`;
  const token = await tokenFor(agent);
  for (const path of ["payments", "payment-links", "autopay"]) {
    const problem = await expectProblem(
      await api(`/cases/${subject.caseId}/${path}`, { token, method: "POST", body: {} }),
      409,
    );
    assert.match(problem.detail, /was erased on .*: no payment can be opened for them/, path);
  }
  assert.deepEqual(await opened(subject.caseId), []);
});

dbTest("erasure races: close the payments harness", async () => {
  await payments.close();
});
