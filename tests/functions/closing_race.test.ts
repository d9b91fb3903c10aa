// A reminder queued while its case closes or is deleted (issue 9 review). The cadence queues
// its reminders through the gate in one transaction; a desk closing the case, or the backend
// deleting it, may commit while that transaction is open. The closing does not wait (it locks
// the case's row for no-key update; the reminder's foreign key holds only a key-share lock) and
// cannot see the uncommitted reminder to cancel it: the claim must. The deletion waits for the
// key-share lock, and its BEFORE trigger then sees the reminder and cancels it.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { adminSql, dbTest } from "./_helpers.ts";
import { firstThenSecond, holdOpen, namedConnection } from "./_concurrency.ts";

/** A motor case ending 2034-03-01 whose customer has WhatsApp service consent. */
async function openCase(label: string): Promise<{ caseId: string; customerId: string }> {
  const sql = adminSql();
  await sql`
    insert into public.templates (code, channel, language, purpose, body, whatsapp_name,
                                  whatsapp_category, whatsapp_status, whatsapp_parameter_count)
    values ('closing_race_reminder', 'whatsapp', 'en', 'service', 'Hello {{customer_name}}, renew.',
            'closing_race_reminder_en', 'utility', 'approved', 1)
    on conflict do nothing`;
  const [agent] = await sql`select id from public.profiles where role = 'agent' and active limit 1`;
  const [customer] = await sql`
    insert into public.customers (full_name, phone)
    values (${"Closing Race " + label}, '+9197' || lpad((random() * 1e8)::bigint::text, 8, '0'))
    returning id`;
  await sql`
    insert into public.consents (customer_id, channel, purpose, status, source)
    values (${customer.id}, 'whatsapp', 'service', 'granted', 'import')`;
  const [policy] = await sql`
    insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                 premium, sum_insured, start_date, end_date)
    values (${"T-CLOSING-RACE-" + label}, 'motor', 'Test', ${customer.id}, ${agent.id}, 1200000,
            50000000, date '2034-03-01' - 365, '2034-03-01')
    returning id`;
  const [renewal] = await sql`
    insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
    values (${policy.id}, ${customer.id}, ${agent.id}, '2034-03-01', '2034-03-01')
    returning id`;
  return { caseId: renewal.id, customerId: customer.id };
}

/** What a cadence run does for the case: a reminder through the gate, keyed `key`. */
function queueReminder(
  sql: postgres.Sql | postgres.TransactionSql,
  ids: { caseId: string; customerId: string },
  key: string,
) {
  return sql`
    select private.enqueue_messages(jsonb_build_array(jsonb_build_object(
      'customer_id', ${ids.customerId}::uuid, 'case_id', ${ids.caseId}::uuid, 'channel', 'whatsapp',
      'template_code', 'closing_race_reminder', 'idempotency_key', ${key}::text,
      'variables', jsonb_build_object('customer_name', 'Asha'))))`;
}

/**
 * The message's status after a claim at noon IST tomorrow, and whether the claim handed it over.
 * The claim is rolled back (it sees the whole outbox); the message is then cancelled.
 */
async function claimedOrNot(key: string) {
  const sql = adminSql();
  let outcome: { status: string; handed: boolean } | undefined;
  await sql.begin(async (tx) => {
    const [{ handed }] = await tx`
      select exists (
        select 1 from private.claim_messages('closing-race', 1000,
                                             (current_date + 1 + time '12:00') at time zone 'Asia/Kolkata') c
          join public.messages m on m.id = c.id where m.idempotency_key = ${key}) as handed`;
    const [message] =
      await tx`select status::text from public.messages where idempotency_key = ${key}`;
    outcome = { status: message.status, handed };
    throw new Error("roll back"); // the claim touched the whole outbox: leave it as it was
  }).catch((error) => {
    if (error.message !== "roll back") throw error;
  });
  // Nothing of this test is left for the other tests' dispatchers to send.
  await sql`
    update public.messages set status = 'cancelled', cancelled_at = now()
     where idempotency_key = ${key} and status = 'queued'`;
  return outcome;
}

dbTest(
  "a case closed while the cadence's run is open: the claim cancels its reminder",
  async () => {
    const ids = await openCase("CLOSED");
    const key = `test:closing-race:closed:${ids.caseId}`;
    const cadence = namedConnection("closing-race-cadence");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    try {
      const run = holdOpen(cadence, null, (tx) => queueReminder(tx, ids, key), gate);
      await run.worked;
      // The desk closes the case meanwhile, without waiting for the run.
      await adminSql()`
      update public.renewal_cases set stage = 'not_taken', lost_reason = 'Sold the car'
       where id = ${ids.caseId}`;
      release();
      await run.committed;
    } finally {
      release();
      await cadence.end();
    }
    const [queued] = await adminSql()`
    select status::text from public.messages where idempotency_key = ${key}`;
    assert.equal(queued.status, "queued", "the closing could not cancel what it could not see");
    assert.deepEqual(await claimedOrNot(key), { status: "cancelled", handed: false });
  },
);

dbTest(
  "an open case's reminder is handed over (the claim's check is about the stage)",
  async () => {
    const ids = await openCase("OPEN");
    const key = `test:closing-race:open:${ids.caseId}`;
    await queueReminder(adminSql(), ids, key);
    assert.deepEqual(await claimedOrNot(key), { status: "sending", handed: true });
  },
);

dbTest("a case deleted while the cadence's run is open: its reminder is cancelled", async () => {
  const ids = await openCase("DELETED");
  const key = `test:closing-race:deleted:${ids.caseId}`;
  const cadence = namedConnection("closing-race-cadence");
  const backend = namedConnection("closing-race-delete");
  try {
    await firstThenSecond(
      { sql: cadence, userId: null, work: (tx) => queueReminder(tx, ids, key) },
      {
        sql: backend,
        name: "closing-race-delete",
        userId: null,
        work: (tx) => tx`delete from public.renewal_cases where id = ${ids.caseId}`,
      },
    );
  } finally {
    await cadence.end();
    await backend.end();
  }
  const [message] = await adminSql()`
    select status::text, case_id from public.messages where idempotency_key = ${key}`;
  assert.deepEqual(message, { status: "cancelled", case_id: null });
});
