// Campaign races (issue 9 review): the flow job (private.advance_campaign_flows, every 5 minutes)
// against a manager's pause or cancel, either one first, and two launches at once (one launches,
// the other is refused). A pause that is committing while the job runs makes the job skip the
// campaign (it used to queue follow-ups the pause could not see, claimable though the campaign
// was paused). A preview, however long, holds up no cancel (it locked the campaign as long as it
// ran); a launch of the same campaign waits for it.
import assert from "node:assert/strict";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";
import { holdOpen, namedConnection } from "./_concurrency.ts";

const cpManager = "cp.manager@py360.test";
const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
const tpl = { first: `pr_race_a_${suffix}`, next: `pr_race_b_${suffix}` };

let templatesMade: Promise<unknown> | undefined;
function templates() {
  templatesMade ??= adminSql()`
    insert into public.templates (code, channel, purpose, subject, body)
    values (${tpl.first}, 'email', 'service', 'Renew {{policy_number}}',
            'Hi {{customer_name}}, renew {{policy_number}}.'),
           (${tpl.next}, 'email', 'service', 'Reminder: {{policy_number}}',
            'Hello {{customer_name}}, {{policy_number}} is still due.')`;
  return templatesMade;
}

/** `n` customers of a city of their own, each with an open case held in Connaught Place. */
async function book(n: number): Promise<string> {
  await templates();
  const city = `Racepur ${crypto.randomUUID().slice(0, 8)}`;
  for (let i = 0; i < n; i++) {
    const tag = crypto.randomUUID().slice(0, 8).toUpperCase();
    await adminSql()`
      with agent as (select id from public.profiles where email = 'farah.agent@py360.test'),
      customer as (
        insert into public.customers (full_name, phone, email, city)
        values (${"Race Customer " + tag}, ${"+9198766" + String(10000 + i).slice(-5)},
                ${`r${tag.toLowerCase()}@tests.py360.test`}, ${city})
        returning id
      ),
      policy as (
        insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                     premium, sum_insured, start_date, end_date)
        select ${"RACE/" + tag}, 'motor', 'Test General', customer.id, agent.id, 1500000, 60000000,
               today.d - 340, today.d + 25
          from customer, agent, (select private.business_date(now()) as d) today
        returning id, customer_id, agent_id, end_date
      )
      insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
      select id, customer_id, agent_id, end_date, end_date from policy`;
  }
  return city;
}

async function call(email: string, path: string, method = "GET", body?: unknown) {
  return api(path, { token: await tokenFor(email), method, body });
}

/** A launched two-step campaign whose first messages all went out an hour ago. */
async function launchedFlow(n: number): Promise<string> {
  const city = await book(n);
  const created = await expectJson(
    await call(cpManager, "/campaigns", "POST", {
      name: `Race ${city}`,
      channel: "email",
      purpose: "service",
      template_code: tpl.first,
      steps: [{ channel: "email", template_code: tpl.next, wait_hours: 0, condition: "always" }],
      audience_filter: { city },
    }),
    201,
  );
  const launched = await expectJson(
    await call(cpManager, `/campaigns/${created.id}/launch`, "POST"),
    200,
  );
  assert.equal(launched.queued, n);
  await adminSql()`
    update public.messages set status = 'sent', sent_at = now() - interval '1 hour'
     where campaign_id = ${created.id} and status = 'queued'`;
  // Planned an hour ago (a launch in quiet hours plans them for 08:00 IST).
  await adminSql()`
    update public.campaign_recipients set due_at = now() - interval '1 hour',
                                          next_at = now() - interval '1 hour'
     where campaign_id = ${created.id}`;
  return created.id;
}

function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what}: blocked ${ms} ms`)), ms)
    ),
  ]);
}

async function cleanUp(id: string) {
  await adminSql()`
    update public.messages set status = 'cancelled', cancelled_at = now()
     where campaign_id = ${id} and status = 'queued'`;
}

dbTest(
  "campaign races: the flow job skips a campaign whose pause is committing; nothing claimable",
  async () => {
    const id = await launchedFlow(3);
    const [{ id: managerId }] = await adminSql()`
    select id from public.profiles where email = ${cpManager}`;
    const manager = namedConnection("race-pause");
    const job = namedConnection("race-flow-job");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    try {
      // The manager's pause (as POST /pause runs it): its transaction has locked and paused the
      // campaign, and held what was queued (nothing: the first step went out), not yet committed.
      const pause = holdOpen(manager, managerId, (tx) =>
        tx`
      select private.pause_campaign(${id}::uuid)`, gate);
      await pause.worked;
      // The flow job runs meanwhile: it skips the campaign being paused (its row is locked)
      // rather than queue follow-ups the pause cannot see, and does not wait for it.
      const out = await within(
        5_000,
        "the flow job",
        job.begin((tx) =>
          tx<{ outcome: string; recipients: number }[]>`
      select * from private.advance_campaign_flows(now())`
        ),
      );
      assert.equal(out.find((o) => o.outcome === "sent_next_step")?.recipients, 0);
      release();
      await pause.committed;

      const [row] = await adminSql()`
      select c.status::text as status,
             count(m.*) filter (where m.status = 'queued')::int as queued,
             count(m.*) filter (where m.status = 'queued' and m.next_attempt_at <> 'infinity')::int
               as claimable,
             (select count(*)::int from public.campaign_recipients r
               where r.campaign_id = c.id and r.step = 1 and r.state = 'active') as waiting
        from public.campaigns c
        left join public.messages m on m.campaign_id = c.id
       where c.id = ${id}
       group by c.status, c.id`;
      assert.deepEqual({ ...row }, { status: "paused", queued: 0, claimable: 0, waiting: 3 });
    } finally {
      release();
      await manager.end();
      await job.end();
      await cleanUp(id);
    }
  },
);

dbTest(
  "campaign races: a pause while the flow job's transaction is open waits for it",
  async () => {
    const id = await launchedFlow(3);
    const job = namedConnection("probe-flow-job-3");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    try {
      let moved!: () => void;
      const movedNow = new Promise<void>((resolve) => moved = resolve);
      const committed = job.begin(async (tx) => {
        await tx`select * from private.advance_campaign_flows(now())`;
        moved();
        await gate;
      });
      await movedNow;
      const pausing = call(cpManager, `/campaigns/${id}/pause`, "POST");
      await new Promise((resolve) => setTimeout(resolve, 300));
      release();
      await committed;
      const paused = await within(10000, "pause", pausing.then((r) => expectJson(r, 200)));
      assert.equal(paused.status, "paused");
      assert.equal(
        paused.messages_held,
        3,
        "it held the job's three follow-ups once the job committed",
      );
    } finally {
      release();
      await job.end();
      await cleanUp(id);
    }
  },
);

dbTest(
  "campaign races: a cancel that commits while the flow job runs leaves nothing queued",
  async () => {
    const id = await launchedFlow(3);
    const job = namedConnection("probe-flow-job-2");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    try {
      let moved!: () => void;
      const movedNow = new Promise<void>((resolve) => moved = resolve);
      const committed = job.begin(async (tx) => {
        const out = await tx<{ outcome: string; recipients: number }[]>`
        select * from private.advance_campaign_flows(now())`;
        assert.equal(out.find((o) => o.outcome === "sent_next_step")?.recipients, 3);
        moved();
        await gate;
      });
      await movedNow;
      const cancelling = call(cpManager, `/campaigns/${id}/cancel`, "POST");
      // The cancel waits for the job's locked recipients; let the job commit.
      await new Promise((resolve) => setTimeout(resolve, 300));
      release();
      await committed;
      const cancelled = await within(10000, "cancel", cancelling.then((r) => expectJson(r, 200)));
      assert.equal(cancelled.status, "cancelled");
      const [row] = await adminSql()`
      select count(*) filter (where status = 'queued')::int as queued
        from public.messages where campaign_id = ${id}`;
      assert.equal(row.queued, 0, "nothing of a cancelled campaign stays queued");
    } finally {
      release();
      await job.end();
      await cleanUp(id);
    }
  },
);

dbTest("campaign races: two launches at once: one launches, the other is 409", async () => {
  const city = await book(4);
  const created = await expectJson(
    await call(cpManager, "/campaigns", "POST", {
      name: `Twice ${city}`,
      channel: "email",
      purpose: "service",
      template_code: tpl.first,
      audience_filter: { city },
    }),
    201,
  );
  try {
    // The second waits for the first's lock, then finds the campaign running: refused, nothing
    // created by it.
    const answers = await Promise.all([
      call(cpManager, `/campaigns/${created.id}/launch`, "POST"),
      call(cpManager, `/campaigns/${created.id}/launch`, "POST"),
    ]);
    const statuses = answers.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 409]);
    const launched = await expectJson(answers.find((r) => r.status === 200)!, 200);
    const refused = await expectProblem(answers.find((r) => r.status === 409)!, 409);
    assert.deepEqual([launched.created, launched.audience], [4, 4]);
    assert.match(refused.detail, /this one is running/);
    const [row] = await adminSql()`
      select count(*)::int as n from public.messages where campaign_id = ${created.id}`;
    assert.equal(row.n, 4);
  } finally {
    await cleanUp(created.id);
  }
});

/** A draft over `n` customers of a city of their own. */
async function draftOf(n: number): Promise<string> {
  const city = await book(n);
  const created = await expectJson(
    await call(cpManager, "/campaigns", "POST", {
      name: `Previewed ${city}`,
      channel: "email",
      purpose: "service",
      template_code: tpl.first,
      audience_filter: { city },
    }),
    201,
  );
  return created.id;
}

dbTest(
  "campaign races: a preview's open transaction does not hold up a cancel",
  async () => {
    const id = await draftOf(3);
    const [{ id: managerId }] = await adminSql()`
      select id from public.profiles where email = ${cpManager}`;
    const previewer = namedConnection("race-preview");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    try {
      // The manager's preview (as GET /preview runs it), its transaction left open: it took the
      // campaign's row lock (FOR UPDATE) and kept it as long as it ran, so a pause or a cancel
      // waited for it (a preview of 100,000 runs about 30 s).
      const preview = holdOpen(previewer, managerId, async (tx) => {
        const [counts] = await tx<{ audience: number }[]>`
          select audience from private.preview_campaign(${id}::uuid, now())`;
        assert.equal(counts.audience, 3);
      }, gate);
      await preview.worked;
      const cancelled = await within(
        5_000,
        "the cancel",
        call(cpManager, `/campaigns/${id}/cancel`, "POST").then((r) => expectJson(r, 200)),
      );
      assert.deepEqual(cancelled, { status: "cancelled", messages_cancelled: 0 });
      release();
      await preview.committed;
    } finally {
      release();
      await previewer.end();
    }
  },
);

dbTest(
  "campaign races: a preview halfway through its launch does not hold up a cancel",
  async () => {
    const id = await draftOf(3);
    const previewer = namedConnection("race-preview-running");
    // Released by a rejection: the half-done launch is rolled back, as the preview rolls it back.
    let release!: () => void;
    const gate = new Promise<void>((_, reject) => release = () => reject(new Error("undone")));
    gate.catch(() => {});
    try {
      // Where a long preview spends its time: inside the launch it rolls back, whose messages and
      // recipients, not yet undone, hold the campaign row's key-share lock (their foreign keys).
      // A cancel that locked the row FOR UPDATE waited for the whole preview.
      const midway = holdOpen(previewer, null, async (tx) => {
        const [counts] = await tx<{ audience: number }[]>`
          select (private.run_campaign_launch(c, now())).audience
            from public.campaigns c where c.id = ${id}`;
        assert.equal(counts.audience, 3);
      }, gate);
      midway.committed.catch(() => {}); // rolled back on release, whatever happens
      await midway.worked;
      const cancelled = await within(
        5_000,
        "the cancel",
        call(cpManager, `/campaigns/${id}/cancel`, "POST").then((r) => expectJson(r, 200)),
      );
      assert.equal(cancelled.status, "cancelled");
      release();
      await midway.committed.catch(() => {});
    } finally {
      release();
      await previewer.end();
      await cleanUp(id);
    }
  },
);

dbTest(
  "campaign races: a launch waits for a preview of the same campaign, then launches",
  async () => {
    const id = await draftOf(2);
    const [{ id: managerId }] = await adminSql()`
      select id from public.profiles where email = ${cpManager}`;
    const previewer = namedConnection("race-preview-launch");
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    try {
      const preview = holdOpen(previewer, managerId, (tx) =>
        tx`
        select audience from private.preview_campaign(${id}::uuid, now())`, gate);
      await preview.worked;
      let answered = false;
      const launching = call(cpManager, `/campaigns/${id}/launch`, "POST").then((r) => {
        answered = true;
        return expectJson(r, 200);
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(answered, false, "the launch waits for the preview's transaction");
      release();
      await preview.committed;
      const launched = await within(10_000, "the launch", launching);
      assert.deepEqual([launched.status, launched.created], ["running", 2]);
    } finally {
      release();
      await previewer.end();
      await cleanUp(id);
    }
  },
);
