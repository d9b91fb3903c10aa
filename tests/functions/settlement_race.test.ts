// Settling a case's installments and closing the case take turns on the case row. Before, two
// payments of one case committed side by side each saw the other installment still pending, so
// neither renewed the case (and the daily job later lapsed a case that owed nothing); and a
// payment recorded while the case was being closed landed on the closed case.
import assert from "node:assert/strict";
import type postgres from "postgres";
import { firstThenSecond, namedConnection } from "./_concurrency.ts";
import { adminSql, createCase, dbTest, snapshot } from "./_helpers.ts";

const arjun = "arjun.agent@py360.test";

async function arjunId(): Promise<string> {
  const [row] = await adminSql()`select id from public.profiles where email = ${arjun}`;
  return row.id;
}

const pay = (installmentId: string) => (tx: postgres.TransactionSql) =>
  tx`update public.outstanding_amounts
        set status = 'paid', paid_at = now(), reason = 'NEFT UTR 20261129'
      where id = ${installmentId}`;

dbTest("settlement: two installments paid at once renew the case", async () => {
  const { caseId, installmentId, policyId } = await createCase(arjun);
  // A second installment of the same case, as the jobs raise them for installment policies.
  const [second] = await adminSql()`
    update public.outstanding_amounts set amount = 750000 where id = ${installmentId}
    returning case_id, due_date`;
  const [{ id: secondId }] = await adminSql()`
    insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
    values (${second.case_id}, 2, ${second.due_date}, 750000) returning id`;
  const tag = crypto.randomUUID().slice(0, 6);
  const one = namedConnection(`settle-one-${tag}`);
  const two = namedConnection(`settle-two-${tag}`);
  const userId = await arjunId();
  try {
    await firstThenSecond(
      { sql: one, userId, work: pay(installmentId) },
      { sql: two, name: `settle-two-${tag}`, userId, work: pay(secondId) },
    );
  } finally {
    await one.end({ timeout: 5 });
    await two.end({ timeout: 5 });
  }
  assert.equal((await snapshot("renewal_cases", caseId)).stage, "renewed");
  assert.equal((await snapshot("policies", policyId)).status, "renewed");
});

dbTest("settlement: a payment recorded while the case is being lost is refused", async () => {
  const { caseId, installmentId } = await createCase(arjun);
  const tag = crypto.randomUUID().slice(0, 6);
  const closer = namedConnection(`close-${tag}`);
  const payer = namedConnection(`pay-${tag}`);
  const userId = await arjunId();
  try {
    await assert.rejects(
      firstThenSecond(
        {
          sql: closer,
          userId,
          work: (tx) =>
            tx`update public.renewal_cases
                  set stage = 'lost', lost_reason = 'Renewed with another insurer'
                where id = ${caseId}`,
        },
        { sql: payer, name: `pay-${tag}`, userId, work: pay(installmentId) },
      ),
      (error: { code?: string }) => error.code === "PY006",
    );
  } finally {
    await closer.end({ timeout: 5 });
    await payer.end({ timeout: 5 });
  }
  assert.equal((await snapshot("renewal_cases", caseId)).stage, "lost");
  assert.equal((await snapshot("outstanding_amounts", installmentId)).status, "pending");
});
