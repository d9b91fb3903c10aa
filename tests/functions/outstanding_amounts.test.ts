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

/** `date` as ISO 8601 in Indian Standard Time (+05:30), as a desk in India would send it. */
function inIst(date: Date): string {
  const shifted = new Date(date.getTime() + 330 * 60_000);
  return shifted.toISOString().replace(/\.\d{3}Z$/, "+05:30");
}

/** A second, later installment on a fixture's case, so settling the first leaves it open. */
async function addInstallment(caseId: string): Promise<string> {
  const [row] = await adminSql()`
    insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
    select id, 2, due_date + 90, 750000 from public.renewal_cases where id = ${caseId}
    returning id`;
  return row.id;
}

dbTest(
  "outstanding: marking the last installment paid offline renews the case, audited",
  async () => {
    const { caseId, installmentId, policyId } = await createCase(arjun);
    // An hour ago, written in IST: the offset must be honoured, and the time is never ahead.
    const paidAt = new Date(Date.now() - 3_600_000);
    paidAt.setUTCMilliseconds(0);
    const paid = await expectJson(
      await api(`/cases/${caseId}/outstanding-amounts/${installmentId}`, {
        token: await tokenFor(arjun),
        method: "PUT",
        body: { status: "paid", reason: "Cheque 004512, HDFC Bank", paid_at: inIst(paidAt) },
      }),
      200,
    );
    assert.equal(paid.status, "paid");
    assert.equal(paid.amount, 1500000);
    assert.equal(new Date(paid.paid_at).toISOString(), paidAt.toISOString());
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

dbTest("outstanding: what is owed follows settlement, in integer paise", async () => {
  const { caseId, installmentId } = await createCase(arjun);
  await addInstallment(caseId);
  const token = await tokenFor(arjun);
  const before = await expectJson(
    await api(`/cases/${caseId}/outstanding-amounts`, { token }),
    200,
  );
  assert.equal(before.outstanding, 2250000);
  assert.deepEqual(before.data.map((row: { amount: number }) => row.amount), [1500000, 750000]);
  await expectJson(
    await api(`/cases/${caseId}/outstanding-amounts/${installmentId}`, {
      token,
      method: "PUT",
      body: { status: "paid", reason: "NEFT UTR 1234567890" },
    }),
    200,
  );
  const after = await expectJson(await api(`/cases/${caseId}/outstanding-amounts`, { token }), 200);
  assert.equal(after.outstanding, 750000);
  const [{ owed }] = await adminSql()`select public.case_outstanding(${caseId}) as owed`;
  assert.equal(String(after.outstanding), String(owed), "the API says what the database says");
  const found = await expectJson(await api(`/cases/${caseId}`, { token }), 200);
  assert.equal(found.outstanding, 750000);
});

dbTest(
  "outstanding: managers waive; an agent may not waive their own customer's premium",
  async () => {
    const { caseId, installmentId } = await createCase(arjun);
    await addInstallment(caseId);
    const path = `/cases/${caseId}/outstanding-amounts/${installmentId}`;
    const waiver = { status: "waived", reason: "Goodwill waiver approved by the branch" };
    const before = await snapshot("outstanding_amounts", installmentId);
    const refused = await expectProblem(
      await api(path, { token: await tokenFor(arjun), method: "PUT", body: waiver }),
      403,
    );
    assert.equal(refused.code, "PY003");
    assert.deepEqual(await snapshot("outstanding_amounts", installmentId), before);

    const manager = await tokenFor("cp.manager@py360.test");
    const waived = await expectJson(
      await api(path, { token: manager, method: "PUT", body: waiver }),
      200,
    );
    assert.equal(waived.status, "waived");
    assert.equal(waived.paid_at, null);
  },
);

dbTest("outstanding: a settled installment stays settled (409), a repeat is harmless", async () => {
  const { caseId, installmentId } = await createCase(arjun);
  await addInstallment(caseId); // the case stays open: the refusal is about the installment
  const token = await tokenFor(arjun);
  const path = `/cases/${caseId}/outstanding-amounts/${installmentId}`;
  const paidAt = new Date(Date.now() - 600_000);
  paidAt.setUTCMilliseconds(0);
  const payment = { status: "paid", reason: "Cash receipt 8812", paid_at: inIst(paidAt) };
  await expectJson(await api(path, { token, method: "PUT", body: payment }), 200);
  const before = await snapshot("outstanding_amounts", installmentId);
  await expectJson(await api(path, { token, method: "PUT", body: payment }), 200);
  assert.deepEqual(await snapshot("outstanding_amounts", installmentId), before);
  const problem = await expectProblem(
    await api(path, {
      token: await tokenFor("cp.manager@py360.test"),
      method: "PUT",
      body: { status: "waived", reason: "Waived after all" },
    }),
    409,
  );
  assert.equal(problem.code, "PY004");
  assert.deepEqual(await snapshot("outstanding_amounts", installmentId), before);
});

dbTest(
  "outstanding: no payment dated in the future (422), none on a closed case (409)",
  async () => {
    const { caseId, installmentId } = await createCase(arjun);
    const token = await tokenFor(arjun);
    const path = `/cases/${caseId}/outstanding-amounts/${installmentId}`;
    const before = await snapshot("outstanding_amounts", installmentId);
    const tomorrow = inIst(new Date(Date.now() + 86_400_000));
    const future = await expectProblem(
      await api(path, {
        token,
        method: "PUT",
        body: { status: "paid", reason: "Post-dated cheque", paid_at: tomorrow },
      }),
      422,
    );
    assert.equal(future.code, "PY008");
    assert.deepEqual(await snapshot("outstanding_amounts", installmentId), before);

    const lost = await createCase(arjun, { stage: "contacted" });
    await expectJson(
      await api(`/cases/${lost.caseId}`, {
        token,
        method: "PATCH",
        body: { stage: "lost", lost_reason: "Renewed with another insurer" },
      }),
      200,
    );
    const lostBefore = await snapshot("outstanding_amounts", lost.installmentId);
    const closed = await expectProblem(
      await api(`/cases/${lost.caseId}/outstanding-amounts/${lost.installmentId}`, {
        token,
        method: "PUT",
        body: { status: "paid", reason: "Cash" },
      }),
      409,
    );
    assert.equal(closed.code, "PY006");
    assert.deepEqual(await snapshot("outstanding_amounts", lost.installmentId), lostBefore);
  },
);

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
      body: { status: "waived", reason: "ok then", paid_at: new Date().toISOString() },
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
