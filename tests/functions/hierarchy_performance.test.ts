// GET /api/hierarchy/{nodeId}/performance: a node's figures and its children's, read from the
// analytics facts, equal what the demo book's own tables give when counted here with SQL as the
// superuser (the facts of the period are rebuilt first); a manager reads their subtree only;
// agents and analysts are refused; bad periods are 422 problems.
import assert from "node:assert/strict";
import {
  adminSql,
  api,
  createCase,
  dbTest,
  expectJson,
  expectProblem,
  tokenFor,
} from "./_helpers.ts";
import { createTemplate, enqueue, setMessages } from "./_messaging.ts";

const north = "10000000-0000-4000-8000-000000000001";
const delhi = "10000000-0000-4000-8000-000000000011";
const delCp = "10000000-0000-4000-8000-000000000021";
const blrKor = "10000000-0000-4000-8000-000000000023";
const stages = [
  "new",
  "contacted",
  "quoted",
  "payment_pending",
  "renewed",
  "pending_lapse",
  "lapsed",
  "lost",
  "not_taken",
];

/** The demo book's period: 45 days back to 45 ahead (cases are due from -60 to +90 days). */
async function demoPeriod() {
  const [row] = await adminSql()`
    select (private.business_date(now()) - 45)::text as from,
           (private.business_date(now()) + 45)::text as to`;
  return row as { from: string; to: string };
}

/**
 * Rebuilds the facts of the period and returns the moment they were computed for (the rebuild's
 * transaction time: a task is in breach when its SLA had passed by then).
 */
async function rebuildFacts(period: { from: string; to: string }): Promise<Date> {
  return await adminSql().begin(async (tx) => {
    const [row] = await tx`select now() as at`;
    await tx`select private.rebuild_analytics(${period.from}::date, ${period.to}::date)`;
    return row.at as Date;
  });
}

/**
 * A node's figures over the period, counted from the desk's own tables (cases, policies,
 * installments, payments, tasks, messages) for the agents at or under the node now.
 */
async function countFromBook(nodeId: string, period: { from: string; to: string }, asOf: Date) {
  const sql = adminSql();
  const agents = sql`
    select a.id from public.profiles a
      join public.hierarchy_nodes n on n.id = a.node_id
     where n.path operator(extensions.<@) (select path from public.hierarchy_nodes
                                              where id = ${nodeId})`;
  const start = sql`(${period.from}::date::timestamp at time zone 'Asia/Kolkata')`;
  const end = sql`((${period.to}::date + 1)::timestamp at time zone 'Asia/Kolkata')`;
  const [node] = await sql`
    select id, parent_id, level::text, code, name, path::text, active
      from public.hierarchy_nodes where id = ${nodeId}`;
  const byStage = await sql`
    select s.stage, count(c.id)::int as cases, coalesce(sum(po.premium), 0)::bigint as premium
      from unnest(${stages}::public.case_stage[]) s (stage)
      left join (public.renewal_cases c join public.policies po on po.id = c.policy_id)
        on c.stage = s.stage and c.due_date between ${period.from}::date and ${period.to}::date
       and c.assignee_id in (${agents})
     group by s.stage
     order by array_position(${stages}::text[], s.stage::text)`;
  const [cohort] = await sql`
    select count(*)::int as due,
           (count(*) filter (where c.stage = 'renewed'))::int as renewed,
           (count(*) filter (where c.stage in ('renewed', 'lapsed', 'lost', 'not_taken')))::int
             as closed,
           round(avg(extract(epoch from c.closed_at - c.created_at) / 86400)
                   filter (where c.stage = 'renewed'), 2)::float8 as average_days,
           coalesce(sum(po.premium), 0)::bigint as premium,
           coalesce(sum(po.premium) filter (where c.stage = 'renewed'), 0)::bigint as renewed_premium
      from public.renewal_cases c
      join public.policies po on po.id = c.policy_id
     where c.due_date between ${period.from}::date and ${period.to}::date
       and c.assignee_id in (${agents})`;
  const [installments] = await sql`
    select coalesce(sum(oa.amount), 0)::bigint as due, count(*)::int as count
      from public.outstanding_amounts oa
      join public.renewal_cases c on c.id = oa.case_id
     where oa.due_date between ${period.from}::date and ${period.to}::date
       and oa.status <> 'waived' and c.assignee_id in (${agents})`;
  const [paid] = await sql`
    select coalesce(sum(oa.amount), 0)::bigint as paid
      from public.outstanding_amounts oa
      join public.renewal_cases c on c.id = oa.case_id
     where oa.status = 'paid' and oa.paid_at >= ${start} and oa.paid_at < ${end}
       and c.assignee_id in (${agents})`;
  const [payments] = await sql`
    select coalesce(sum(p.amount), 0)::bigint as collected, count(*)::int as count
      from public.payments p
      join public.renewal_cases c on c.id = p.case_id
     where p.captured_at >= ${start} and p.captured_at < ${end}
       and c.assignee_id in (${agents})`;
  const [tasks] = await sql`
    select count(*)::int as due,
           (count(*) filter (where t.done_at > t.sla_due_at
                                or (t.done_at is null and t.sla_due_at <= ${asOf})))::int
             as breaches
      from public.tasks t
     where t.sla_due_at >= ${start} and t.sla_due_at < ${end} and t.assignee_id in (${agents})`;
  const [messages] = await sql`
    select count(*)::int as sent,
           pg_catalog.trim_scale(coalesce(sum(coalesce(m.cost_paise, m.estimated_cost_paise, 0)), 0))
             as cost
      from public.messages m
      join public.renewal_cases c on c.id = m.case_id
     where m.sent_at >= ${start} and m.sent_at < ${end} and c.assignee_id in (${agents})`;
  const [perRenewal] = await sql`
    select pg_catalog.trim_scale(round(${messages.cost}::numeric / nullif(${cohort.renewed}, 0), 4))
             as cost`;
  const rate = (part: number, whole: number) =>
    whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000;
  return {
    node,
    cases: {
      due: cohort.due,
      renewed: cohort.renewed,
      closed: cohort.closed,
      open: cohort.due - cohort.closed,
    },
    renewal_rate: rate(cohort.renewed, cohort.due),
    renewal_rate_of_closed: rate(cohort.renewed, cohort.closed),
    by_stage: byStage.map((row) => ({
      stage: row.stage,
      cases: row.cases,
      premium_paise: Number(row.premium),
    })),
    average_days_to_renew: cohort.average_days,
    premium: {
      due_paise: Number(installments.due),
      collected_paise: Number(payments.collected),
      installments_paid_paise: Number(paid.paid),
      installments_due: installments.count,
      payments_captured: payments.count,
      cohort_paise: Number(cohort.premium),
      cohort_renewed_paise: Number(cohort.renewed_premium),
    },
    sla: { tasks_due: tasks.due, breaches: tasks.breaches },
    messages: {
      sent: messages.sent,
      cost_paise: String(messages.cost),
      cost_per_renewal_paise: perRenewal.cost === null ? null : String(perRenewal.cost),
    },
  };
}

/**
 * What the demo book lacks, on a case of Farah's (Connaught Place) opened 12 days ago: a payment
 * captured an hour ago that settles its installment (so the case renews), two call tasks (one
 * past its SLA, one done in time) and two messages sent two hours ago (one priced by the vendor).
 * Returns a function that removes the payment, tasks and messages again.
 */
async function addActivity(): Promise<() => Promise<void>> {
  const sql = adminSql();
  const fixture = await createCase("farah.agent@py360.test");
  const { code } = await createTemplate();
  const ids = await enqueue([
    { customer_id: fixture.customerId, case_id: fixture.caseId, template_code: code },
    { customer_id: fixture.customerId, case_id: fixture.caseId, template_code: code },
  ]);
  const sentAt = new Date(Date.now() - 2 * 3_600_000);
  await setMessages(ids, { status: "sent", sent_at: sentAt, estimated_cost_paise: 25 });
  await setMessages([ids[0]], { cost_paise: 62.5 });
  const tag = crypto.randomUUID().slice(0, 8);
  await sql`
    update public.renewal_cases set created_at = now() - interval '12 days'
     where id = ${fixture.caseId}`;
  const [payment] = await sql`
    insert into public.payments (case_id, razorpay_order_id,
                                 razorpay_payment_id, amount, status, captured_at)
    values (${fixture.caseId}, ${"order_perf_" + tag},
            ${"pay_perf_" + tag}, 1500000, 'captured', now() - interval '1 hour')
    returning id`;
  await sql`
    update public.outstanding_amounts set status = 'paid', paid_at = now() - interval '1 hour'
     where id = ${fixture.installmentId}`;
  const tasks = await sql`
    insert into public.tasks (case_id, assignee_id, due_at, sla_hours, sla_due_at, status,
                              outcome, done_at)
    select ${fixture.caseId}::uuid, p.id, now() - interval '3 days', 24, now() - interval '2 days',
           'open', null, null
      from public.profiles p where p.email = 'farah.agent@py360.test'
    union all
    select ${fixture.caseId}::uuid, p.id, now() - interval '4 days', 24, now() - interval '3 days',
           'done', 'Called: renewing', now() - interval '3 days 2 hours'
      from public.profiles p where p.email = 'farah.agent@py360.test'
    returning id`;
  const [stage] = await sql`select stage from public.renewal_cases where id = ${fixture.caseId}`;
  assert.equal(stage.stage, "renewed", "the settled case renewed");
  return async () => {
    await sql`delete from public.messages where id = any(${ids}::uuid[])`;
    await sql`delete from public.tasks where id = any(${tasks.map((t) => t.id)}::uuid[])`;
    await sql`delete from public.payments where id = ${payment.id}`;
  };
}

/** A node's figures as answered, without the parts that are not a node's figures. */
function figuresOf(body: Record<string, unknown>) {
  const { period: _p, facts_as_of: _f, children: _c, ...figures } = body;
  return figures;
}

dbTest("hierarchy performance: a region and its branches equal the book's own counts", async () => {
  const period = await demoPeriod();
  const removeActivity = await addActivity();
  try {
    await compareRegion(period);
  } finally {
    await removeActivity();
    await rebuildFacts(period);
  }
});

/** DELHI's figures and its branches', as an admin reads them, against the book's own counts. */
async function compareRegion(period: { from: string; to: string }) {
  const asOf = await rebuildFacts(period);
  const body = await expectJson(
    await api(`/hierarchy/${delhi}/performance?from=${period.from}&to=${period.to}`, {
      token: await tokenFor("admin@py360.test"),
    }),
    200,
  );
  assert.deepEqual(body.period, period);
  assert.ok(!Number.isNaN(Date.parse(body.facts_as_of)), body.facts_as_of);

  const expected = await countFromBook(delhi, period, asOf);
  assert.deepEqual(figuresOf(body), expected);
  // The comparison is worth something only if the book has figures of every kind in the period.
  assert.ok(expected.cases.due > 0 && expected.cases.renewed > 0, JSON.stringify(expected.cases));
  assert.ok(expected.cases.closed > expected.cases.renewed, "lapsed or lost ones too");
  assert.ok(
    expected.premium.due_paise > 0 && expected.premium.collected_paise >= 1500000 &&
      expected.premium.installments_paid_paise > 0,
    JSON.stringify(expected.premium),
  );
  assert.ok(
    expected.sla.tasks_due >= 2 && expected.sla.breaches >= 1,
    JSON.stringify(expected.sla),
  );
  assert.ok(
    expected.messages.sent >= 2 && expected.messages.cost_per_renewal_paise !== null &&
      (expected.average_days_to_renew ?? 0) > 0,
    JSON.stringify(expected),
  );

  assert.deepEqual(
    body.children.map((child: { node: { code: string } }) => child.node.code),
    ["DEL_CP", "DEL_GGN"],
    "each branch of the region, by code",
  );
  for (const child of body.children) {
    assert.deepEqual(child, await countFromBook(child.node.id, period, asOf), child.node.code);
  }
  assert.equal(
    body.children.reduce(
      (sum: number, child: { cases: { due: number } }) => sum + child.cases.due,
      0,
    ),
    body.cases.due,
    "the region's agents all sit in its branches",
  );
}

dbTest("hierarchy performance: a manager reads their subtree only", async () => {
  const period = await demoPeriod();
  const asOf = await rebuildFacts(period);
  const token = await tokenFor("cp.manager@py360.test");
  const query = `from=${period.from}&to=${period.to}`;
  const own = await expectJson(
    await api(`/hierarchy/${delCp}/performance?${query}`, { token }),
    200,
  );
  assert.deepEqual(figuresOf(own), await countFromBook(delCp, period, asOf));
  // Every child of the branch, by code: the demo's two teams and any other test's nodes under it.
  const childCodes = (await adminSql()<{ code: string }[]>`
    select code from public.hierarchy_nodes where parent_id = ${delCp} order by code`)
    .map((row) => row.code);
  assert.ok(childCodes.includes("DEL_CP_HEALTH") && childCodes.includes("DEL_CP_MOTOR"));
  assert.deepEqual(
    own.children.map((child: { node: { code: string } }) => child.node.code),
    childCodes,
  );
  const team = own.children.find((child: { node: { code: string } }) =>
    child.node.code === "DEL_CP_MOTOR"
  );
  const motor = await expectJson(
    await api(`/hierarchy/${team.node.id}/performance?${query}`, { token }),
    200,
  );
  assert.deepEqual(figuresOf(motor), team, "a team under their branch, as its row beside it");
  assert.deepEqual(motor.children, []);
  for (const outside of [delhi, north, blrKor, crypto.randomUUID()]) {
    const problem = await expectProblem(
      await api(`/hierarchy/${outside}/performance?${query}`, { token }),
      404,
    );
    assert.equal(problem.code, "P0002", outside);
  }
});

dbTest("hierarchy performance: agents and analysts are refused; bad periods are 422", async () => {
  for (const email of ["farah.agent@py360.test", "analyst@py360.test"]) {
    const problem = await expectProblem(
      await api(`/hierarchy/${delCp}/performance`, { token: await tokenFor(email) }),
      403,
    );
    assert.match(problem.detail, /managers and admins/, email);
  }
  await expectProblem(await api(`/hierarchy/${delCp}/performance`), 401);

  const token = await tokenFor("admin@py360.test");
  const path = `/hierarchy/${delCp}/performance`;
  const backwards = await expectProblem(
    await api(`${path}?from=2026-12-02&to=2026-12-01`, { token }),
    422,
  );
  assert.deepEqual(backwards.errors.map((e: { code: string }) => e.code), ["invalid_period"]);
  const long = await expectProblem(
    await api(`${path}?from=2025-01-01&to=2026-01-02`, { token }),
    422,
  );
  assert.match(long.detail, /at most 366 days/);
  for (const query of ["from=soon", "to=2026-12-01T10:00:00Z", "from=2026-13-01"]) {
    const schema = await expectProblem(await api(`${path}?${query}`, { token }), 422);
    assert.equal(schema.errors[0].path, query.split("=")[0], query);
  }
  await expectProblem(await api("/hierarchy/DEL_CP/performance", { token }), 422);

  // A year to the day is allowed; the default is the 30 days through today (IST).
  const year = await expectJson(await api(`${path}?from=2025-01-02&to=2026-01-02`, { token }), 200);
  assert.deepEqual(year.period, { from: "2025-01-02", to: "2026-01-02" });
  const [today] = await adminSql()`
    select private.business_date(now())::text as to,
           (private.business_date(now()) - 29)::text as from`;
  const fallback = await expectJson(await api(path, { token }), 200);
  assert.deepEqual(fallback.period, { from: today.from, to: today.to });
  const toOnly = await expectJson(await api(`${path}?to=2026-03-31`, { token }), 200);
  assert.deepEqual(toOnly.period, { from: "2026-03-02", to: "2026-03-31" });
});

dbTest("performance reports: a period bound outside the years 2000 to 2100 is a 422", async () => {
  const token = await tokenFor("admin@py360.test");
  const [sms] = await adminSql()`select id from public.channels where name = 'SMS reminders'`;
  const node = `/hierarchy/${north}/performance`;
  const reports = [node, "/vendors/twilio/performance", `/channels/${sms.id}/performance`];
  const days = ["0001-01-01", "1999-12-31", "2101-01-01", "9999-12-31"];
  const instants = ["0001-01-01T00:00:00Z", "2101-01-01T00:00:00+05:30"];
  for (const path of [...reports, "/vendors/communications"]) {
    const bounds = path === node ? days : [...days, ...instants];
    for (const end of ["from", "to"]) {
      for (const bound of bounds) {
        const problem = await expectProblem(
          await api(`${path}?${end}=${encodeURIComponent(bound)}`, { token }),
          422,
        );
        assert.equal(problem.errors[0].path, end, `${path}?${end}=${bound}`);
        assert.match(problem.errors[0].message, /years 2000 to 2100/, `${path}?${end}=${bound}`);
      }
    }
  }
  // The years' own ends are allowed (the first from 2000-01-01, the last through 2100-12-31).
  const first = await expectJson(
    await api(`${node}?from=2000-01-01&to=2000-01-31`, { token }),
    200,
  );
  assert.deepEqual(first.period, { from: "2000-01-01", to: "2000-01-31" });
  const last = await expectJson(await api(`${node}?to=2100-12-31`, { token }), 200);
  assert.deepEqual(last.period, { from: "2100-12-02", to: "2100-12-31" });
  for (const path of reports.slice(1)) {
    const ends = await expectJson(
      await api(`${path}?from=2100-12-01&to=2100-12-31`, { token }),
      200,
    );
    assert.equal(ends.period.granularity, "day", path);
  }
});
