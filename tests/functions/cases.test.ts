// /api/cases: lists and reads under RLS, the stage machine through PATCH, and refusals that
// change nothing.
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

const arjun = "arjun.agent@py360.test"; // DEL_CP_MOTOR
const kavya = "kavya.agent@py360.test"; // BLR_KOR_ALL
const arjunId = "20000000-0000-4000-8000-000000000011";

async function idsOf(email: string): Promise<string[]> {
  const rows = await adminSql()`
    select c.id from public.renewal_cases c join public.profiles p on p.id = c.assignee_id
     where p.email = ${email}`;
  return rows.map((row) => row.id).sort();
}

dbTest(
  "cases: an agent's list holds exactly their own cases, in due order, page by page",
  async () => {
    const token = await tokenFor(arjun);
    const seen: string[] = [];
    const dueDates: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `/cases?limit=7${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await expectJson(await api(query, { token }), 200);
      assert.ok(page.data.length <= 7);
      for (const row of page.data) {
        assert.equal(row.assignee.id, arjunId);
        seen.push(row.id);
        dueDates.push(row.due_date);
      }
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    assert.ok(pages > 2, "the demo book gives an agent several pages of 7");
    assert.deepEqual([...seen].sort(), await idsOf(arjun), "every case once, nobody else's");
    assert.deepEqual(dueDates, [...dueDates].sort(), "in due-date order across pages");
  },
);

dbTest("cases: a branch manager sees their branch; a zone manager sees the zone", async () => {
  const cp = await expectJson(
    await api("/cases?limit=200", { token: await tokenFor("cp.manager@py360.test") }),
    200,
  );
  const cpAgents = new Set(
    cp.data.map((row: { assignee: { full_name: string } }) => row.assignee.full_name),
  );
  assert.deepEqual([...cpAgents].sort(), ["Arjun Mehta", "Bhavna Kapoor", "Farah Khan"]);

  const north = await expectJson(
    await api("/cases?limit=200", { token: await tokenFor("north.manager@py360.test") }),
    200,
  );
  const northAgents = new Set(
    north.data.map((row: { assignee: { full_name: string } }) => row.assignee.full_name),
  );
  assert.ok(northAgents.has("Gopal Singh"), "Gurugram is in the North zone");
  assert.ok(!northAgents.has("Kavya Rao"), "Bengaluru is not");
});

dbTest("cases: filters narrow the list", async () => {
  const token = await tokenFor("admin@py360.test");
  const quoted = await expectJson(
    await api("/cases?stage=quoted,payment_pending&limit=200", { token }),
    200,
  );
  assert.ok(quoted.data.length > 0);
  assert.ok(
    quoted.data.every((row: { stage: string }) =>
      ["quoted", "payment_pending"].includes(row.stage)
    ),
  );

  const motor = await expectJson(await api("/cases?product_line=motor&limit=200", { token }), 200);
  assert.ok(
    motor.data.every((row: { policy: { product_line: string } }) =>
      row.policy.product_line === "motor"
    ),
  );

  const window = await expectJson(
    await api("/cases?due_from=2026-12-01&due_to=2026-12-31&limit=200", { token }),
    200,
  );
  assert.ok(window.data.every((row: { due_date: string }) => row.due_date.startsWith("2026-12")));

  const mine = await expectJson(
    await api("/cases?assignee=me", { token: await tokenFor(kavya) }),
    200,
  );
  assert.ok(mine.data.length > 0);

  const [sample] = await adminSql()`
    select c.case_number, p.policy_number, cu.full_name from public.renewal_cases c
      join public.policies p on p.id = c.policy_id join public.customers cu on cu.id = c.customer_id
     order by c.case_number limit 1`;
  for (
    const q of [sample.case_number, sample.policy_number.slice(0, 8), sample.full_name.slice(0, 5)]
  ) {
    const found = await expectJson(
      await api(`/cases?q=${encodeURIComponent(q)}&limit=200`, { token }),
      200,
    );
    assert.ok(
      found.data.some((row: { case_number: string }) => row.case_number === sample.case_number),
      `searching ${q} finds ${sample.case_number}`,
    );
  }

  const branch = await expectJson(
    await api("/cases?node=10000000-0000-4000-8000-000000000023&limit=200", { token }),
    200,
  );
  assert.ok(branch.data.length > 0);
  assert.ok(
    branch.data.every((row: { assignee: { full_name: string } }) =>
      row.assignee.full_name === "Kavya Rao"
    ),
  );
});

dbTest("cases: bad queries are 422 problems naming the field", async () => {
  const token = await tokenFor(arjun);
  for (
    const [query, field] of [
      ["stage=nonsense", "stage"],
      ["limit=0", "limit"],
      ["limit=201", "limit"],
      ["due_from=31-12-2026", "due_from"],
      ["assignee=someone", "assignee"],
      ["cursor=bm90LWEtY3Vyc29y", "cursor"],
    ]
  ) {
    const problem = await expectProblem(await api(`/cases?${query}`, { token }), 422);
    assert.equal(problem.errors[0].path, field, query);
  }
  await expectProblem(await api("/cases"), 401);
});

dbTest("cases: one case in full; another agent's case is a 404 like a missing one", async () => {
  const mine = await createCase(arjun);
  const theirs = await createCase(kavya);
  const token = await tokenFor(arjun);
  const found = await expectJson(await api(`/cases/${mine.caseId}`, { token }), 200);
  assert.equal(found.id, mine.caseId);
  assert.match(found.case_number, /^RC-\d{4}-\d{6,}$/);
  assert.equal(found.policy.id, mine.policyId);
  assert.equal(found.customer.phone, "+919900000000");
  assert.equal(found.outstanding, 1500000);

  const hidden = await expectProblem(await api(`/cases/${theirs.caseId}`, { token }), 404);
  const missing = await expectProblem(await api(`/cases/${crypto.randomUUID()}`, { token }), 404);
  assert.deepEqual({ ...hidden, instance: undefined }, { ...missing, instance: undefined });
  await expectProblem(await api("/cases/not-a-uuid", { token }), 422);
});

dbTest("cases: PATCH moves a case forward and audits who did it", async () => {
  const { caseId } = await createCase(arjun);
  const token = await tokenFor(arjun);
  const updated = await expectJson(
    await api(`/cases/${caseId}`, {
      token,
      method: "PATCH",
      body: { stage: "contacted", priority: "high" },
    }),
    200,
  );
  assert.equal(updated.stage, "contacted");
  assert.equal(updated.priority, "high");
  const [audit] = await adminSql()`
    select actor_id, new_row ->> 'stage' as stage from public.audit_log
     where row_id = ${caseId} and action = 'update'`;
  assert.deepEqual({ ...audit }, { actor_id: arjunId, stage: "contacted" });
});

dbTest("cases: an illegal transition is a 409 and changes nothing", async () => {
  const { caseId } = await createCase(arjun, { stage: "quoted" });
  const before = await snapshot("renewal_cases", caseId);
  const problem = await expectProblem(
    await api(`/cases/${caseId}`, {
      token: await tokenFor(arjun),
      method: "PATCH",
      body: { stage: "contacted", priority: "urgent" },
    }),
    409,
  );
  assert.equal(problem.code, "PY002");
  assert.equal(problem.detail, "illegal stage transition from quoted to contacted");
  assert.deepEqual(await snapshot("renewal_cases", caseId), before);
});

dbTest("cases: lost needs a reason (422); with one it is lost", async () => {
  const { caseId } = await createCase(arjun);
  const token = await tokenFor(arjun);
  const before = await snapshot("renewal_cases", caseId);
  await expectProblem(
    await api(`/cases/${caseId}`, { token, method: "PATCH", body: { stage: "lost" } }),
    422,
  );
  assert.deepEqual(await snapshot("renewal_cases", caseId), before);
  const lost = await expectJson(
    await api(`/cases/${caseId}`, {
      token,
      method: "PATCH",
      body: { stage: "lost", lost_reason: "Renewed directly with the insurer" },
    }),
    200,
  );
  assert.equal(lost.stage, "lost");
  assert.ok(lost.closed_at);
});

dbTest(
  "cases: reassigning is for managers, within their book; refusals change nothing",
  async () => {
    const { caseId } = await createCase(arjun);
    const before = await snapshot("renewal_cases", caseId);
    const bhavna = "20000000-0000-4000-8000-000000000012";
    const kavyaId = "20000000-0000-4000-8000-000000000015";

    // Arjun cannot hand his case to a colleague whose book he does not see.
    await expectProblem(
      await api(`/cases/${caseId}`, {
        token: await tokenFor(arjun),
        method: "PATCH",
        body: { assignee_id: bhavna },
      }),
      403,
    );
    // Kavya cannot touch it at all.
    await expectProblem(
      await api(`/cases/${caseId}`, {
        token: await tokenFor(kavya),
        method: "PATCH",
        body: { stage: "contacted" },
      }),
      404,
    );
    // The branch manager cannot send it to another zone.
    const manager = await tokenFor("cp.manager@py360.test");
    await expectProblem(
      await api(`/cases/${caseId}`, {
        token: manager,
        method: "PATCH",
        body: { assignee_id: kavyaId },
      }),
      403,
    );
    assert.deepEqual(await snapshot("renewal_cases", caseId), before);

    const moved = await expectJson(
      await api(`/cases/${caseId}`, {
        token: manager,
        method: "PATCH",
        body: { assignee_id: bhavna },
      }),
      200,
    );
    assert.equal(moved.assignee.id, bhavna);
  },
);

dbTest("cases: PATCH bodies are validated before anything runs", async () => {
  const { caseId } = await createCase(arjun);
  const token = await tokenFor(arjun);
  const before = await snapshot("renewal_cases", caseId);
  await expectProblem(await api(`/cases/${caseId}`, { token, method: "PATCH", body: {} }), 422);
  await expectProblem(
    await api(`/cases/${caseId}`, { token, method: "PATCH", body: { stage: "done" } }),
    422,
  );
  await expectProblem(
    await api(`/cases/${caseId}`, {
      token,
      method: "PATCH",
      body: { priority: "high" },
      contentType: null,
    }),
    415,
  );
  await expectProblem(
    await api(`/cases/${caseId}`, { token, method: "PATCH", body: "{not json" }),
    400,
  );
  await expectProblem(
    await api(`/cases/${caseId}`, { method: "PATCH", body: { stage: "contacted" } }),
    401,
  );
  assert.deepEqual(await snapshot("renewal_cases", caseId), before);
});
