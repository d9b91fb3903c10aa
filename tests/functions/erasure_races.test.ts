// An erasure and the writers that race it (issue 13, review). Each test holds the erasure's
// transaction open on one connection, starts the other writer on a second connection, checks
// that it waits for a lock, then commits the erasure and judges what the writer did.
//
// The gate: a gate statement that read the customer before the erasure committed (it waits on
// the messages' foreign-key check while the erasure holds the customer's row) must not store a
// message queued to the person's old address: the messages' _050_block_erased_customers trigger
// (migration 20261130054931) blocks it, customer_erased, and clears it.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { adminSql, createCase, dbTest } from "./_helpers.ts";
import { namedConnection, waitsForLock } from "./_concurrency.ts";

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
