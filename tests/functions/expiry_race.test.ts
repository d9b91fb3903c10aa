// The daily expiry and a writer at once (issue 9 review): expire_ended_terms finds the terms to
// expire, then updates them by key. A term that an insurer's import re-dates, or cancels, in a
// transaction still open when the expiry reaches it must come out as that transaction left it:
// the expiry waits for the row, then judges it again as it now is. Before the fix it judged only
// the key, and the re-dated or cancelled term was expired all the same.
import assert from "node:assert/strict";
import { adminSql, dbTest } from "./_helpers.ts";
import { firstThenSecond, namedConnection } from "./_concurrency.ts";

/** The job's clock: a day far from the seeded book, 09:00 IST. */
const asOf = "2034-03-01 03:30+00";

/** A health term without a case that ended 40 days before the job's day: past its 30 of grace. */
async function caselessTermPastGrace(number: string): Promise<string> {
  const sql = adminSql();
  const [agent] = await sql`select id from public.profiles where role = 'agent' and active limit 1`;
  const [customer] = await sql`
    insert into public.customers (full_name) values ('Expiry Race') returning id`;
  const [policy] = await sql`
    insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                 premium, sum_insured, payment_frequency, start_date, end_date)
    values (${number}, 'health', 'Test', ${customer.id}, ${agent.id}, 1200000, 100000000,
            'annual', date '2034-03-01' - 405, date '2034-03-01' - 40)
    returning id`;
  return policy.id;
}

/**
 * Runs `change` on the term in a transaction held open while the expiry runs on another
 * connection and waits for the term's row; then commits it. Returns the term as both left it.
 */
async function expiryRacing(policyId: string, change: string) {
  const writer = namedConnection("expiry-race-writer");
  const job = namedConnection("expiry-race-job");
  try {
    await firstThenSecond(
      {
        sql: writer,
        userId: null,
        work: (tx) => tx.unsafe(`update public.policies set ${change} where id = $1`, [policyId]),
      },
      {
        sql: job,
        name: "expiry-race-job",
        userId: null,
        work: (tx) => tx`select private.expire_ended_terms(${asOf}::timestamptz) as expired`,
      },
    );
    const [term] = await adminSql()`
      select status::text, end_date::text from public.policies where id = ${policyId}`;
    return term;
  } finally {
    await writer.end();
    await job.end();
  }
}

dbTest("a term re-dated while the expiry waits for it stays active", async () => {
  const id = await caselessTermPastGrace("T-EXPIRY-RACE-REDATED");
  const term = await expiryRacing(id, "end_date = date '2034-03-01' + 200");
  assert.deepEqual(term, { status: "active", end_date: "2034-09-17" });
});

dbTest("a term cancelled while the expiry waits for it stays cancelled", async () => {
  const id = await caselessTermPastGrace("T-EXPIRY-RACE-CANCELLED");
  const term = await expiryRacing(id, "status = 'cancelled'");
  assert.deepEqual(term, { status: "cancelled", end_date: "2034-01-20" });
});

dbTest("a term nobody touches meanwhile expires", async () => {
  const id = await caselessTermPastGrace("T-EXPIRY-RACE-UNTOUCHED");
  const [{ expired }] = await adminSql()`
    select private.expire_ended_terms(${asOf}::timestamptz) as expired`;
  assert.ok(expired >= 1);
  const [term] = await adminSql()`select status::text from public.policies where id = ${id}`;
  assert.equal(term.status, "expired");
});
