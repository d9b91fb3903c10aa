// The erasure against a payment being opened at the same moment (issue 13, review; migration
// 20261130054516_close_erasure_review_gaps), two writers on connections of their own: an agent's
// transaction opens a payment link (private.open_payment_link, which holds the case's lock until
// it commits) and stays open; an admin's erasure of the customer starts meanwhile. The erasure
// locks the person's cases before judging the money in flight, so it waits for the agent, then
// sees the link `creating` and is refused (55000): no link is left `creating` for an erased
// customer, whose name and email Razorpay would then be sent. A transaction that only held the
// case and made nothing is waited for too, and the erasure then goes through.
import assert from "node:assert/strict";
import { firstThenSecond, namedConnection } from "./_concurrency.ts";
import { adminSql, createCase, dbTest } from "./_helpers.ts";

const farah = "20000000-0000-4000-8000-000000000013"; // farah.agent, holds createCase's cases

async function adminId(): Promise<string> {
  const [row] = await adminSql()`
    select id from public.profiles where email = 'admin@py360.test'`;
  return row.id;
}

/** The erasure's outcome as the second writer saw it: its answer, or the SQLSTATE it raised. */
type Outcome = { erased: boolean; code?: string; message?: string };

async function customerState(customerId: string) {
  const [row] = await adminSql()`
    select c.erased_at is not null as erased, c.full_name,
           (select count(*)::int from public.data_requests r where r.customer_id = c.id) as requests
      from public.customers c where c.id = ${customerId}`;
  return row;
}

dbTest(
  "erasure race: a payment link opened while the erasure starts is waited for, and refuses it",
  async () => {
    const { customerId, caseId } = await createCase("farah.agent@py360.test");
    const before = await customerState(customerId);
    const tag = crypto.randomUUID().slice(0, 6);
    const desk = namedConnection(`link-${tag}`);
    const rights = namedConnection(`erase-${tag}`);
    let outcome: Outcome;
    try {
      outcome = await firstThenSecond<Outcome>(
        {
          sql: desk,
          userId: farah,
          work: async (tx) => {
            const [link] = await tx`
              select payment_link_id, status from private.open_payment_link(${caseId}::uuid)`;
            assert.equal(link.status, "creating", "the link is being created");
          },
        },
        {
          sql: rights,
          name: `erase-${tag}`,
          userId: await adminId(),
          work: async (tx) => {
            try {
              await tx.savepoint((sp) =>
                sp`select private.erase_customer(${customerId}, 'Ticket DPR-RACE-1, asked by email')`
              );
              return { erased: true };
            } catch (error) {
              const failure = error as { code?: string; message?: string };
              return { erased: false, code: failure.code, message: failure.message };
            }
          },
        },
      );
    } finally {
      await Promise.all([desk.end(), rights.end()]);
    }
    assert.equal(outcome.erased, false, "the erasure did not go through");
    assert.equal(outcome.code, "55000");
    assert.match(outcome.message ?? "", /payment link .* is creating/);
    assert.deepEqual(await customerState(customerId), before, "the customer is as before");
    const links = await adminSql()`
      select l.status from public.payment_links l where l.case_id = ${caseId}`;
    assert.deepEqual(links.map((l) => l.status), ["creating"], "the agent's link stands");
  },
);

dbTest(
  "erasure race: a case held by a transaction that makes nothing is waited for, then erased",
  async () => {
    const { customerId, caseId } = await createCase("farah.agent@py360.test");
    const tag = crypto.randomUUID().slice(0, 6);
    const desk = namedConnection(`hold-${tag}`);
    const rights = namedConnection(`erase-${tag}`);
    let outcome: Outcome;
    try {
      outcome = await firstThenSecond<Outcome>(
        {
          sql: desk,
          userId: farah,
          work: (tx) => tx`select private.lock_case(${caseId}::uuid)`,
        },
        {
          sql: rights,
          name: `erase-${tag}`,
          userId: await adminId(),
          work: async (tx) => {
            const [row] = await tx`
              select private.erase_customer(${customerId}, 'Ticket DPR-RACE-2, asked by email')
                       as answer`;
            return { erased: row.answer.counts.customers === 1 };
          },
        },
      );
    } finally {
      await Promise.all([desk.end(), rights.end()]);
    }
    assert.equal(outcome.erased, true, "the erasure waited for the case, then went through");
    const state = await customerState(customerId);
    assert.equal(state.erased, true);
    assert.match(state.full_name, /^Erased customer [0-9a-f]{8}$/);
    const links = await adminSql()`
      select count(*)::int as n from public.payment_links where case_id = ${caseId}`;
    assert.equal(links[0].n, 0, "nothing was opened");
  },
);
