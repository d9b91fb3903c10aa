// /api/cases: lists and reads under RLS, the stage machine through PATCH, and refusals that
// change nothing.
import assert from "node:assert/strict";
import type postgres from "postgres";
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

/** Every page of `path` (a /cases query) as `token` sees it, following next_cursor. */
async function allCases(path: string, token: string): Promise<CaseRow[]> {
  const rows: CaseRow[] = [];
  let cursor: string | null = null;
  do {
    const separator = path.includes("?") ? "&" : "?";
    const page: { data: CaseRow[]; next_cursor: string | null } = await expectJson(
      await api(`${path}${separator}limit=200${cursor ? `&cursor=${cursor}` : ""}`, { token }),
      200,
    );
    rows.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return rows;
}

interface CaseRow {
  id: string;
  case_number: string;
  stage: string;
  due_date: string;
  priority: string;
  assignee: { id: string; full_name: string };
  policy: { product_line: string };
  customer: { id: string; full_name: string };
}

const ids = (rows: { id: string }[]) => rows.map((row) => row.id).sort();

/** The ids of the cases matching an SQL condition on `c` (the case) and `p` (its policy). */
async function caseIdsWhere(condition: postgres.PendingQuery<postgres.Row[]>) {
  const rows = await adminSql()`
    select c.id from public.renewal_cases c join public.policies p on p.id = c.policy_id
     where ${condition}`;
  return rows.map((row) => row.id as string).sort();
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

dbTest(
  "cases: sort=risk lists the highest lapse risk first, unscored last, page by page",
  async () => {
    const mine = await idsOf(arjun);
    // Every third case scored, with scores that tie in pairs so the due-date tiebreak shows.
    const scored = mine.filter((_, i) => i % 3 === 0);
    assert.ok(scored.length >= 4, "the demo book gives Arjun cases to score");
    // Only these scores: a scoring run of another test may have scored every open case.
    await adminSql()`delete from public.case_risk_scores where case_id = any(${mine}::uuid[])`;
    await adminSql()`
      insert into public.case_risk_scores (case_id, as_of, model_version, score, band, reasons)
      select id, now(), 'test-sort', score,
             case when score >= 65 then 'high' when score >= 35 then 'medium' else 'low' end,
             '[{"feature": "a", "value": 1, "weight": 1, "direction": "raises"},
               {"feature": "b", "value": 1, "weight": 1, "direction": "raises"}]'
        from unnest(${scored}::uuid[]) with ordinality s (id, n)
             cross join lateral (select (90 - (n / 2 % 6) * 15)::smallint as score) x
      on conflict (case_id) do update set score = excluded.score, band = excluded.band,
                                          model_version = excluded.model_version`;
    try {
      const token = await tokenFor(arjun);
      const rows: { id: string; due_date: string; risk: { score: number } | null }[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `/cases?sort=risk&limit=4${cursor ? `&cursor=${cursor}` : ""}`;
        const page = await expectJson(await api(query, { token }), 200);
        rows.push(...page.data);
        cursor = page.next_cursor;
      } while (cursor);
      assert.deepEqual(rows.map((row) => row.id).sort(), mine, "every case once, nobody else's");
      const keys = rows.map((row) => [100 - (row.risk?.score ?? -1), row.due_date] as const);
      const ordered = [...keys].sort((a, b) => a[0] - b[0] || a[1].localeCompare(b[1]));
      assert.deepEqual(keys, ordered, "score high to low, unscored last, then due date");
      assert.equal(rows[0].risk?.score, 90);
      assert.equal(rows.filter((row) => row.risk !== null).length, scored.length);
      assert.equal(rows.at(-1)?.risk, null);

      // A cursor belongs to its order: one from the due-date list is refused by the risk list.
      const byDue = await expectJson(await api("/cases?limit=2", { token }), 200);
      const byRisk = await expectJson(await api("/cases?sort=risk&limit=2", { token }), 200);
      for (
        const query of [
          `/cases?sort=risk&cursor=${byDue.next_cursor}`,
          `/cases?cursor=${byRisk.next_cursor}`,
        ]
      ) {
        const problem = await expectProblem(await api(query, { token }), 422);
        assert.equal(problem.errors[0].path, "cursor", query);
      }
      await expectProblem(await api("/cases?sort=premium", { token }), 422);
    } finally {
      await adminSql()`delete from public.case_risk_scores where model_version = 'test-sort'`;
    }
  },
);

dbTest(
  "cases: ids that are not RFC 4122 uuids (the synthetic book's md5 ids) page and read like any",
  async () => {
    const tag = crypto.randomUUID().slice(0, 8).toUpperCase();
    const [{ id }] = await adminSql()`
      with agent as (select id from public.profiles where email = ${kavya}),
      customer as (
        insert into public.customers (full_name) values (${"Md5 Customer " + tag}) returning id
      ),
      policy as (
        insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                     premium, sum_insured, start_date, end_date)
        select ${"MD5/" + tag}, 'motor', 'Test General', customer.id, agent.id, 1500000, 60000000,
               today.d - 340, today.d + 25
          from customer, agent, (select private.business_date(now()) as d) today
        returning id, customer_id, agent_id, end_date
      )
      insert into public.renewal_cases (id, policy_id, customer_id, assignee_id, due_date,
                                        grace_end)
      select overlay(md5(${tag}) placing '0' from 13 for 1)::uuid, id, customer_id, agent_id,
             end_date, end_date
        from policy
      returning id`;
    assert.match(id, /^.{14}0/, "version 0: not an RFC 9562 uuid");
    const token = await tokenFor(kavya);
    assert.equal((await expectJson(await api(`/cases/${id}`, { token }), 200)).id, id);
    for (const sort of ["due_date", "risk"]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: string = `/cases?sort=${sort}&limit=1${cursor ? `&cursor=${cursor}` : ""}`;
        const page = await expectJson(await api(query, { token }), 200);
        seen.push(...page.data.map((row: { id: string }) => row.id));
        cursor = page.next_cursor;
      } while (cursor);
      assert.deepEqual(seen.sort(), await idsOf(kavya), `every page of the ${sort} order`);
    }
  },
);

dbTest("cases: a branch manager sees their branch; a zone manager sees the zone", async () => {
  const cp = await allCases("/cases", await tokenFor("cp.manager@py360.test"));
  const cpAgents = new Set(cp.map((row) => row.assignee.full_name));
  assert.deepEqual([...cpAgents].sort(), ["Arjun Mehta", "Bhavna Kapoor", "Farah Khan"]);

  const north = await allCases("/cases", await tokenFor("north.manager@py360.test"));
  const northAgents = new Set(north.map((row) => row.assignee.full_name));
  assert.ok(northAgents.has("Gopal Singh"), "Gurugram is in the North zone");
  assert.ok(!northAgents.has("Kavya Rao"), "Bengaluru is not");
});

dbTest("cases: each filter returns exactly the cases that match it, and some do", async () => {
  const token = await tokenFor("admin@py360.test");
  const sql = adminSql();

  const quoted = await allCases("/cases?stage=quoted,payment_pending", token);
  const expectedQuoted = await caseIdsWhere(sql`c.stage in ('quoted', 'payment_pending')`);
  assert.ok(expectedQuoted.length > 0, "the demo book has quoted and payment_pending cases");
  assert.deepEqual(ids(quoted), expectedQuoted);

  const motor = await allCases("/cases?product_line=motor", token);
  const expectedMotor = await caseIdsWhere(sql`p.product_line = 'motor'`);
  assert.ok(expectedMotor.length > 0, "the demo book has motor cases");
  assert.ok(expectedMotor.length < (await caseIdsWhere(sql`true`)).length, "and others");
  assert.deepEqual(ids(motor), expectedMotor);

  const urgent = await allCases("/cases?priority=urgent", token);
  const expectedUrgent = await caseIdsWhere(sql`c.priority = 'urgent'`);
  assert.ok(expectedUrgent.length > 0, "the demo book has urgent cases");
  assert.deepEqual(ids(urgent), expectedUrgent);

  // A fortnight around today, where "today" is the database's business date (IST), not the
  // test machine's UTC date: the demo book's due dates are IST days that follow the clock.
  const [{ from, to }] = await sql`
    select (private.business_date(now()) - 7)::text as from,
           (private.business_date(now()) + 7)::text as to`;
  const window = await allCases(`/cases?due_from=${from}&due_to=${to}`, token);
  const expectedWindow = await caseIdsWhere(sql`c.due_date between ${from} and ${to}`);
  assert.ok(expectedWindow.length > 0, `cases fall due between ${from} and ${to}`);
  assert.deepEqual(ids(window), expectedWindow);
  assert.ok(window.every((row) => row.due_date >= from && row.due_date <= to));

  const kavyaToken = await tokenFor(kavya);
  const mine = await allCases("/cases?assignee=me", kavyaToken);
  assert.deepEqual(ids(mine), await idsOf(kavya));
  assert.ok(mine.length > 0, "Kavya holds cases in the demo book");

  const branch = await allCases("/cases?node=10000000-0000-4000-8000-000000000023", token);
  assert.ok(branch.length > 0);
  // Kavya's team in the demo book; other tests may have added agents to it.
  const subtree = await caseIdsWhere(sql`c.assignee_id in (
    select pr.id from public.profiles pr join public.hierarchy_nodes n on n.id = pr.node_id
     where n.path operator(extensions.<@) 'SOUTH.KARNATAKA.BLR_KOR'::extensions.ltree)`);
  assert.ok((await idsOf(kavya)).every((id) => subtree.includes(id)), "Kavya's cases among them");
  assert.deepEqual(ids(branch), subtree, "exactly the cases of BLR_KOR's agents");
});

dbTest("cases: search by case number, policy number prefix or part of a name", async () => {
  const token = await tokenFor("admin@py360.test");
  const [sample] = await adminSql()`
    select c.case_number, p.policy_number, cu.full_name from public.renewal_cases c
      join public.policies p on p.id = c.policy_id join public.customers cu on cu.id = c.customer_id
     order by c.case_number limit 1`;
  assert.ok(sample, "the demo book has cases");
  for (
    const q of [sample.case_number, sample.policy_number.slice(0, 8), sample.full_name.slice(0, 5)]
  ) {
    const found = await allCases(`/cases?q=${encodeURIComponent(q)}`, token);
    assert.ok(
      found.some((row) => row.case_number === sample.case_number),
      `searching ${q} finds ${sample.case_number}`,
    );
  }
  const none = await allCases(`/cases?q=${encodeURIComponent("no such customer zzqx")}`, token);
  assert.deepEqual(none, []);
});

dbTest("cases: a phone number finds its customer in any common written form", async () => {
  const { caseId, customerId } = await createCase(arjun);
  // A mobile number no other customer has: 98 then 8 digits drawn for this run.
  const national = "98" + String(crypto.getRandomValues(new Uint32Array(1))[0] % 1e8)
    .padStart(8, "0");
  await adminSql()`update public.customers set phone = ${
    "+91" + national
  } where id = ${customerId}`;
  const [{ count }] = await adminSql()`
    select count(*)::int as count from public.customers where phone = ${"+91" + national}`;
  assert.equal(count, 1, "the drawn number is this customer's alone");
  const token = await tokenFor(arjun);
  const spaced = `${national.slice(0, 5)} ${national.slice(5)}`;
  const forms = [
    `0${national}`,
    spaced,
    `+91 ${national.slice(0, 5)}-${national.slice(5)}`,
    `91${national}`,
    `+91${national}`,
    `0${spaced}`,
    `(+91) ${national}`,
    `(+91) ${spaced}`,
    `+91-${national.slice(0, 5)}-${national.slice(5)}`,
    `+91 (0) ${spaced}`,
    `(0) ${spaced}`,
    `0091 ${spaced}`,
  ];
  for (const q of forms) {
    const found = await allCases(`/cases?q=${encodeURIComponent(q)}`, token);
    assert.deepEqual(ids(found), [caseId], `searching ${q} finds exactly the customer's case`);
  }
  // Another agent's search does not reach the customer: RLS still decides.
  const theirs = await allCases(`/cases?q=0${national}`, await tokenFor(kavya));
  assert.deepEqual(theirs, []);
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

dbTest("cases: the database's renewal rules answer as 409 problems with their code", async () => {
  const token = await tokenFor(arjun);
  // Renewed while the premium is still owed (defect 3): the stage machine refuses it.
  const owing = await createCase(arjun);
  const policyBefore = await snapshot("policies", owing.policyId);
  const caseBefore = await snapshot("renewal_cases", owing.caseId);
  const renewed = await expectProblem(
    await api(`/cases/${owing.caseId}`, { token, method: "PATCH", body: { stage: "renewed" } }),
    409,
  );
  assert.equal(renewed.code, "PY005");
  assert.deepEqual(await snapshot("renewal_cases", owing.caseId), caseBefore);
  assert.deepEqual(await snapshot("policies", owing.policyId), policyBefore);

  // lapsed is the daily jobs' to set, and only once grace has passed.
  const lapsed = await expectProblem(
    await api(`/cases/${owing.caseId}`, { token, method: "PATCH", body: { stage: "lapsed" } }),
    409,
  );
  assert.ok(["PY002", "PY005"].includes(lapsed.code), lapsed.code);

  // A case handed to someone who has left (defect 6).
  const [leaver] = await adminSql()`
    select id from public.profiles where email = 'left.agent@py360.test' and not active`;
  assert.ok(leaver, "the demo organisation has an inactive agent");
  const manager = await tokenFor("cp.manager@py360.test");
  const inactive = await expectProblem(
    await api(`/cases/${owing.caseId}`, {
      token: manager,
      method: "PATCH",
      body: { assignee_id: leaver.id },
    }),
    409,
  );
  assert.equal(inactive.code, "PY007");
  assert.deepEqual(await snapshot("renewal_cases", owing.caseId), caseBefore);

  // A closed case takes no further change.
  const lost = await createCase(arjun, { stage: "contacted" });
  await expectJson(
    await api(`/cases/${lost.caseId}`, {
      token,
      method: "PATCH",
      body: { stage: "lost", lost_reason: "Renewed directly with the insurer" },
    }),
    200,
  );
  const lostBefore = await snapshot("renewal_cases", lost.caseId);
  const closed = await expectProblem(
    await api(`/cases/${lost.caseId}`, { token, method: "PATCH", body: { priority: "urgent" } }),
    409,
  );
  assert.equal(closed.code, "PY006");
  assert.deepEqual(await snapshot("renewal_cases", lost.caseId), lostBefore);
});

dbTest("cases: money is integer paise, as numbers", async () => {
  const { caseId } = await createCase(arjun);
  const found = await expectJson(
    await api(`/cases/${caseId}`, { token: await tokenFor(arjun) }),
    200,
  );
  for (const amount of [found.outstanding, found.policy.premium, found.policy.sum_insured]) {
    assert.equal(typeof amount, "number");
    assert.ok(Number.isSafeInteger(amount), `${amount} is an integer`);
  }
  assert.deepEqual(
    [found.outstanding, found.policy.premium, found.policy.sum_insured],
    [1500000, 1500000, 60000000],
  );
});

dbTest(
  "cases: each case carries its latest lapse-risk score, null until it is scored",
  async () => {
    const { caseId } = await createCase(arjun);
    const token = await tokenFor(arjun);
    const before = await expectJson(await api(`/cases/${caseId}`, { token }), 200);
    assert.equal(before.risk, null, "not scored yet");

    await adminSql()`select * from private.score_lapse_risk(now())`;
    const after = await expectJson(await api(`/cases/${caseId}`, { token }), 200);
    const [stored] = await adminSql()`
    select score, band from public.case_risk_scores where case_id = ${caseId}`;
    assert.deepEqual([after.risk.score, after.risk.band], [stored.score, stored.band]);
    assert.ok(after.risk.score >= 0 && after.risk.score <= 100);
    assert.ok(after.risk.reasons.length >= 2, "every score carries at least two reasons");
    assert.equal(after.risk.model_version, "rules-2026-11");

    const list = await expectJson(
      await api(`/cases?q=${encodeURIComponent(before.case_number)}`, { token }),
      200,
    );
    assert.equal(list.data.length, 1);
    assert.deepEqual(list.data[0].risk, after.risk, "the list shows the same score");
  },
);
