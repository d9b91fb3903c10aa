// Races in the renewal rules, two writers at once, each on its own connection acting as a
// signed-in user the way the API does (migration 20261129012700_close_rule_races): two
// reassignments of one customer's cases keep both assignees' book keys; the daily jobs survive a
// case closed while they run; a case cannot go to an agent being deactivated.
import assert from "node:assert/strict";
import postgres from "postgres";
import { firstThenSecond, namedConnection } from "./_concurrency.ts";
import { adminSql, createCase, dbTest } from "./_helpers.ts";

const manager = "20000000-0000-4000-8000-000000000006"; // cp.manager, over Bhavna and Farah
const bhavna = "20000000-0000-4000-8000-000000000012";
const farah = "20000000-0000-4000-8000-000000000013";

/** A customer with two cases, Farah's and Bhavna's. */
async function customerWithTwoCases() {
  const first = await createCase("farah.agent@py360.test");
  const second = await createCase("bhavna.agent@py360.test");
  const sql = adminSql();
  await sql`update public.policies set customer_id = ${first.customerId}
             where id = ${second.policyId}`;
  await sql`update public.renewal_cases set customer_id = ${first.customerId}
             where id = ${second.caseId}`;
  return { customerId: first.customerId, farahsCase: first.caseId, bhavnasCase: second.caseId };
}

dbTest(
  "races: two reassignments of one customer's cases keep both new assignees' keys",
  async () => {
    const { customerId, farahsCase, bhavnasCase } = await customerWithTwoCases();
    const tag = crypto.randomUUID().slice(0, 6);
    const one = namedConnection(`keys-one-${tag}`);
    const two = namedConnection(`keys-two-${tag}`);
    try {
      await firstThenSecond(
        {
          sql: one,
          userId: manager,
          work: (tx) =>
            tx`update public.renewal_cases set assignee_id = ${bhavna} where id = ${farahsCase}`,
        },
        {
          sql: two,
          name: `keys-two-${tag}`,
          userId: manager,
          work: (tx) =>
            tx`update public.renewal_cases set assignee_id = ${farah} where id = ${bhavnasCase}`,
        },
      );
    } finally {
      await Promise.all([one.end(), two.end()]);
    }
    const [row] = await adminSql()`
    select book_keys @> array[${bhavna}, ${farah}]::uuid[] as both from public.customers
     where id = ${customerId}`;
    assert.equal(row.both, true, "each assignee keeps the customer");
  },
);

dbTest(
  "races: the daily jobs survive a case closed while they mark installments overdue",
  async () => {
    const { caseId } = await createCase("farah.agent@py360.test", { stage: "contacted" });
    const sql = adminSql();
    const [installment] = await sql`
    select due_date from public.outstanding_amounts where case_id = ${caseId}`;
    const tag = crypto.randomUUID().slice(0, 6);
    const desk = namedConnection(`close-${tag}`);
    const jobs = postgres(Deno.env.get("TEST_ADMIN_DB_URL")!, {
      max: 1,
      onnotice: () => {},
      connection: { application_name: `jobs-${tag}` },
    });
    try {
      const result = await firstThenSecond(
        {
          sql: desk,
          userId: farah,
          work: (tx) =>
            tx`update public.renewal_cases set stage = 'lost', lost_reason = 'bought elsewhere'
              where id = ${caseId}`,
        },
        {
          sql: jobs,
          name: `jobs-${tag}`,
          userId: farah,
          work: async (tx) => {
            await tx`select set_config('role', 'none', true), set_config('request.jwt.claims', '', true)`;
            await tx`reset role`;
            const due = new Date(installment.due_date);
            due.setUTCDate(due.getUTCDate() + 2);
            return await tx`select private.mark_overdue_installments(${due}) as n`;
          },
        },
      );
      assert.equal(typeof result[0].n, "number", "the sweep finished");
    } finally {
      await Promise.all([desk.end(), jobs.end()]);
    }
    const [after] =
      await sql`select status::text from public.outstanding_amounts where case_id = ${caseId}`;
    assert.equal(after.status, "pending", "the closed case's installment was left alone");
  },
);

dbTest("races: a case cannot go to an agent being deactivated at that moment", async () => {
  const { caseId } = await createCase("farah.agent@py360.test");
  const sql = adminSql();
  const [admin] = await sql`select id from public.profiles where email = 'admin@py360.test'`;
  const tag = crypto.randomUUID().slice(0, 6);
  const adminConn = namedConnection(`deactivate-${tag}`);
  const managerConn = namedConnection(`assign-${tag}`);
  try {
    await assert.rejects(
      firstThenSecond(
        {
          sql: adminConn,
          userId: admin.id,
          work: (tx) => tx`update public.profiles set active = false where id = ${bhavna}`,
        },
        {
          sql: managerConn,
          name: `assign-${tag}`,
          userId: manager,
          work: (tx) =>
            tx`update public.renewal_cases set assignee_id = ${bhavna} where id = ${caseId}`,
        },
      ),
      (error: { code?: string }) => error.code === "PY007",
    );
  } finally {
    await sql`update public.profiles set active = true where id = ${bhavna}`;
    await Promise.all([adminConn.end(), managerConn.end()]);
  }
});
