// /api/cases/{caseId}/outstanding-amounts: read with the case; settle offline with a reason.
import assert from "node:assert/strict";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  snapshot,
  tokenFor,
} from "./_helpers.ts";

const arjun = "arjun.agent@py360.test";
const kavya = "kavya.agent@py360.test";

dbTest("outstanding: a case's installments and what is owed", async () => {
  const { caseId, installmentId } = await createCase(arjun);
  const body = await expectJson(
    await api(`/cases/${caseId}/outstanding-amounts`, { token: await tokenFor(arjun) }),
    200,
  );
  assert.equal(body.outstanding, 1500000);
  assert.equal(body.data.length, 1);
  assert.equal(body.data[0].id, installmentId);
  assert.equal(body.data[0].status, "pending");
  assert.match(body.data[0].due_date, /^\d{4}-\d{2}-\d{2}$/);
});

dbTest("outstanding: another agent's case is a 404", async () => {
  const { caseId } = await createCase(arjun);
  await expectProblem(
    await api(`/cases/${caseId}/outstanding-amounts`, { token: await tokenFor(kavya) }),
    404,
  );
  await expectProblem(await api(`/cases/${caseId}/outstanding-amounts`), 401);
});

dbTest(
  "outstanding: marking the last installment paid offline renews the case, audited",
  async () => {
    const { caseId, installmentId, policyId } = await createCase(arjun);
    const paid = await expectJson(
      await api(`/cases/${caseId}/outstanding-amounts/${installmentId}`, {
        token: await tokenFor(arjun),
        method: "PUT",
        body: {
          status: "paid",
          reason: "Cheque 004512, HDFC Bank",
          paid_at: "2026-11-20T10:00:00+05:30",
        },
      }),
      200,
    );
    assert.equal(paid.status, "paid");
    assert.equal(new Date(paid.paid_at).toISOString(), "2026-11-20T04:30:00.000Z");
    assert.equal((await snapshot("renewal_cases", caseId)).stage, "renewed");
    assert.equal((await snapshot("policies", policyId)).status, "renewed");
    const [audit] = await adminSql()`
    select actor_role, new_row ->> 'reason' as reason from public.audit_log
     where row_id = ${installmentId} and action = 'update'`;
    assert.deepEqual({ ...audit }, {
      actor_role: "authenticated",
      reason: "Cheque 004512, HDFC Bank",
    });
  },
);

dbTest("outstanding: a settled installment stays settled (409), a repeat is harmless", async () => {
  const { caseId, installmentId } = await createCase(arjun);
  const token = await tokenFor(arjun);
  const path = `/cases/${caseId}/outstanding-amounts/${installmentId}`;
  const waiver = { status: "waived", reason: "Goodwill waiver approved by the branch" };
  await expectJson(await api(path, { token, method: "PUT", body: waiver }), 200);
  const before = await snapshot("outstanding_amounts", installmentId);
  await expectJson(await api(path, { token, method: "PUT", body: waiver }), 200);
  const problem = await expectProblem(
    await api(path, { token, method: "PUT", body: { status: "paid", reason: "Paid after all" } }),
    409,
  );
  assert.equal(problem.code, "PY004");
  assert.deepEqual(await snapshot("outstanding_amounts", installmentId), before);
});

dbTest("outstanding: refusals change nothing", async () => {
  const { caseId, installmentId } = await createCase(arjun);
  const other = await createCase(arjun);
  const before = await snapshot("outstanding_amounts", installmentId);
  const path = `/cases/${caseId}/outstanding-amounts/${installmentId}`;
  const token = await tokenFor(arjun);

  const noReason = await expectProblem(
    await api(path, { token, method: "PUT", body: { status: "waived" } }),
    422,
  );
  assert.equal(noReason.errors[0].path, "reason");
  await expectProblem(
    await api(path, {
      token,
      method: "PUT",
      body: { status: "waived", reason: "ok then", paid_at: "2026-11-20T10:00:00Z" },
    }),
    422,
  );
  await expectProblem(
    await api(path, { token, method: "PUT", body: { status: "overdue", reason: "why not" } }),
    422,
  );
  await expectProblem(
    await api(path, {
      token: await tokenFor(kavya),
      method: "PUT",
      body: { status: "paid", reason: "cash" },
    }),
    404,
  );
  await expectProblem(
    await api(`/cases/${other.caseId}/outstanding-amounts/${installmentId}`, {
      token,
      method: "PUT",
      body: { status: "paid", reason: "cash" },
    }),
    404,
  );
  assert.deepEqual(await snapshot("outstanding_amounts", installmentId), before);
});
