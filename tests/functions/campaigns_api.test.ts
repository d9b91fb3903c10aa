// /api/campaigns: a manager's draft with A/B variants and a flow, previewed and launched (the
// launch's numbers are the preview's; a second launch, or a preview of a launched campaign, is
// 409 and creates nothing), paused, resumed and cancelled (409 on a wrong transition), its stats
// adding up; and what is refused: agents and analysts everywhere, another subtree's manager
// (404), a scope outside the subtree (403), crafted or malformed filters and variants (422, or no
// match), and customers outside the scope subtree whatever the filter says.
import assert from "node:assert/strict";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";

const cpManager = "cp.manager@py360.test"; // Connaught Place branch: CP Motor and CP Health desks
const ggnManager = "ggn.manager@py360.test"; // Gurugram branch
const delhiManager = "delhi.manager@py360.test"; // Delhi region: both branches
const admin = "admin@py360.test";
const agent = "farah.agent@py360.test";
const analyst = "analyst@py360.test";
const cpNode = "10000000-0000-4000-8000-000000000021";
const ggnNode = "10000000-0000-4000-8000-000000000022";
const northNode = "10000000-0000-4000-8000-000000000001";
const cpManagerId = "20000000-0000-4000-8000-000000000006";

const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 10);
/** This file's templates: two email variants, an SMS (DLT registered) and a second email. */
const tpl = {
  a: `camp_a_${suffix}`,
  b: `camp_b_${suffix}`,
  sms: `camp_sms_${suffix}`,
  agent: `camp_agent_${suffix}`,
};

let templatesMade: Promise<unknown> | undefined;
function templates() {
  templatesMade ??= adminSql()`
    insert into public.templates (code, channel, purpose, subject, body, dlt_entity_id, dlt_header,
                                  dlt_template_id, dlt_text)
    values (${tpl.a}, 'email', 'service', 'Renew {{policy_number}}',
            'Hi {{customer_name}}, renew {{policy_number}} by {{expiry_date}}.',
            null, null, null, null),
           (${tpl.b}, 'email', 'service', 'Your policy {{policy_number}}',
            'Hello {{customer_name}}, {{policy_number}} is due.', null, null, null, null),
           (${tpl.sms}, 'sms', 'service', null, 'Renew {{policy_number}} -PYRNWL',
            '1101234567890123456', 'PYRNWL', '1107123456789012399', 'Renew {#var#} -PYRNWL'),
           (${tpl.agent}, 'email', 'service', 'Renew {{policy_number}}',
            'Call {{agent_name}} about {{policy_number}}.', null, null, null, null)`;
  return templatesMade;
}

interface Book {
  city: string;
  /** Customers whose cases sit in Connaught Place (Farah's and Arjun's). */
  cp: string[];
  /** Customers in the same city whose cases sit in Gurugram (Gopal's). */
  ggn: string[];
}

/**
 * A city of its own with `cp` customers held in Connaught Place (the last without an email) and
 * `ggn` more held in Gurugram, each with one open case due in 25 days; and the templates.
 */
async function book(cp: number, ggn: number): Promise<Book> {
  await templates();
  const city = `Testpur ${crypto.randomUUID().slice(0, 8)}`;
  const agents = [
    ...Array.from({ length: cp }, (_, i) => ({
      agent: i % 2 === 0 ? "farah.agent@py360.test" : "arjun.agent@py360.test",
      email: i < cp - 1,
      cp: true,
    })),
    ...Array.from(
      { length: ggn },
      () => ({ agent: "gopal.agent@py360.test", email: true, cp: false }),
    ),
  ];
  const result: Book = { city, cp: [], ggn: [] };
  for (const [i, a] of agents.entries()) {
    const tag = crypto.randomUUID().slice(0, 8).toUpperCase();
    const [row] = await adminSql()`
      with agent as (select id from public.profiles where email = ${a.agent}),
      customer as (
        insert into public.customers (full_name, phone, email, city)
        values (${"Campaign Customer " + tag}, ${"+9198765" + String(10000 + i).slice(-5)},
                ${a.email ? `c${tag.toLowerCase()}@tests.py360.test` : null}, ${city})
        returning id
      ),
      policy as (
        insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                     premium, sum_insured, start_date, end_date)
        select ${"CAMP/" + tag}, ${i % 2 === 0 ? "motor" : "health"}::public.product_line,
               'Test General', customer.id, agent.id, 1500000, 60000000, today.d - 340,
               today.d + 25
          from customer, agent, (select private.business_date(now()) as d) today
        returning id, customer_id, agent_id, end_date
      )
      insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
      select id, customer_id, agent_id, end_date, end_date from policy
      returning customer_id`;
    (a.cp ? result.cp : result.ggn).push(row.customer_id);
  }
  return result;
}

/** A signed-in call as `email`. */
async function call(email: string, path: string, method = "GET", body?: unknown) {
  return api(path, { token: await tokenFor(email), method, body });
}

/** A draft created by `email` through the API (201 asserted). */
async function draft(email: string, body: Record<string, unknown>) {
  return expectJson(await call(email, "/campaigns", "POST", body), 201);
}

/** Campaign ids launched by a test, whose queued messages are cancelled whatever happens. */
async function cleanUp(ids: string[]) {
  await adminSql()`
    update public.messages set status = 'cancelled', cancelled_at = now()
     where campaign_id = any(${ids}::uuid[]) and status = 'queued'`;
}

async function messageCount(campaignId: string): Promise<number> {
  const [row] = await adminSql()`
    select count(*)::int as n from public.messages where campaign_id = ${campaignId}`;
  return row.n;
}

async function campaignsNamed(name: string): Promise<number> {
  const [row] = await adminSql()`
    select count(*)::int as n from public.campaigns where name = ${name}`;
  return row.n;
}

const countKeys = ["audience", "queued", "deferred", "blocked", "blocked_reasons"] as const;

dbTest(
  "campaigns: a manager's A/B draft with a flow: get, list, preview, launch; a second launch is 409",
  async () => {
    const { city, cp, ggn } = await book(5, 2);
    const created = await draft(cpManager, {
      name: `Renewals ${city}`,
      channel: "email",
      purpose: "service",
      variants: [
        { code: "A", template_code: tpl.a, weight: 50 },
        { code: "B", template_code: tpl.b, weight: 50 },
      ],
      steps: [
        { channel: "sms", template_code: tpl.sms, wait_hours: 24, condition: "not_read" },
        { channel: "email", template_code: tpl.a, wait_hours: 72, condition: "always" },
      ],
      audience_filter: { city, product_line: ["motor", "health"] },
      spread: { rate_per_hour: 500, window_start: "10:00", window_end: "18:00" },
    });
    const launched: string[] = [created.id];
    try {
      assert.equal(created.status, "draft");
      assert.equal(created.scope_node_id, cpNode, "the scope defaults to the manager's own node");
      assert.equal(created.created_by, cpManagerId);
      assert.equal(created.template_code, null);
      assert.deepEqual(created.audience_filter, { city, product_line: ["motor", "health"] });
      assert.deepEqual(created.spread, {
        rate_per_hour: 500,
        window_start: "10:00",
        window_end: "18:00",
      });
      assert.deepEqual(
        created.variants.map((v: { code: string; template_code: string; weight: number }) => [
          v.code,
          v.template_code,
          v.weight,
        ]),
        [["A", tpl.a, 50], ["B", tpl.b, 50]],
      );
      assert.deepEqual(
        created.steps.map((s: Record<string, unknown>) => [
          s.position,
          s.channel,
          s.template_code,
          s.wait_hours,
          s.condition,
        ]),
        [[2, "sms", tpl.sms, 24, "not_read"], [3, "email", tpl.a, 72, "always"]],
      );
      const [steps] = await adminSql()`
      select string_agg(position || ':' || wait::text, ' ' order by position) as s
        from public.campaign_steps where campaign_id = ${created.id}`;
      assert.equal(steps.s, "2:24:00:00 3:72:00:00", "the waits as intervals in the database");

      const got = await expectJson(await call(cpManager, `/campaigns/${created.id}`), 200);
      assert.deepEqual(got, created, "GET answers what POST did");

      const listed = await expectJson(await call(cpManager, "/campaigns?limit=200"), 200);
      const mine = listed.data.find((c: { id: string }) => c.id === created.id);
      assert.ok(mine, "the manager lists it");
      assert.equal(mine.variant_count, 2);
      assert.equal(mine.step_count, 2);
      const times = listed.data.map((c: { created_at: string }) => Date.parse(c.created_at));
      assert.deepEqual(times, [...times].sort((x: number, y: number) => y - x), "newest first");
      const running = await expectJson(await call(cpManager, "/campaigns?status=running"), 200);
      assert.ok(!running.data.some((c: { id: string }) => c.id === created.id), "not running yet");
      const other = await expectJson(await call(ggnManager, "/campaigns?limit=200"), 200);
      assert.ok(!other.data.some((c: { id: string }) => c.id === created.id), "not Gurugram's");

      const preview = await expectJson(
        await call(cpManager, `/campaigns/${created.id}/preview`),
        200,
      );
      assert.equal(preview.audience, 5, "the five Connaught Place customers, not Gurugram's two");
      assert.equal(preview.blocked, 1);
      assert.deepEqual(preview.blocked_reasons, { no_address: 1 }, "the one without an email");
      assert.equal(preview.queued, 4);
      assert.equal(preview.created, 0);
      assert.match(preview.estimated_cost_paise, /^(0|[1-9][0-9]*)(\.[0-9]+)?$/);
      assert.ok(Number(preview.estimated_cost_paise) > 0, "four emails cost something");
      assert.equal(await messageCount(created.id), 0, "the preview queues nothing");
      const [{ n: recipientsAfterPreview }] = await adminSql()`
      select count(*)::int as n from public.campaign_recipients where campaign_id = ${created.id}`;
      assert.equal(recipientsAfterPreview, 0, "nor adds recipients");
      assert.equal(
        (await expectJson(await call(cpManager, `/campaigns/${created.id}`), 200)).status,
        "draft",
      );

      // The region's manager sees both branches: the same filter reaches Gurugram's customers too,
      // so it is the scope, not the filter, that kept them out above.
      const wide = await draft(delhiManager, {
        name: `Region ${city}`,
        channel: "email",
        purpose: "service",
        template_code: tpl.a,
        audience_filter: { city },
      });
      assert.equal(wide.scope_node_id, "10000000-0000-4000-8000-000000000011");
      const widePreview = await expectJson(
        await call(delhiManager, `/campaigns/${wide.id}/preview`),
        200,
      );
      assert.equal(widePreview.audience, 7);

      const launch = await expectJson(
        await call(cpManager, `/campaigns/${created.id}/launch`, "POST"),
        200,
      );
      for (const key of countKeys) assert.deepEqual(launch[key], preview[key], key);
      assert.equal(launch.estimated_cost_paise, preview.estimated_cost_paise);
      assert.equal(launch.created, 5, "a message per recipient, the blocked one included");
      assert.equal(launch.status, "running");
      const recipients = await adminSql()`
      select customer_id from public.campaign_recipients where campaign_id = ${created.id}`;
      assert.deepEqual(
        recipients.map((r) => r.customer_id).sort(),
        [...cp].sort(),
        "recipients are exactly the Connaught Place customers",
      );
      assert.ok(!recipients.some((r) => ggn.includes(r.customer_id)));
      assert.equal(await messageCount(created.id), 5);

      // A customer whose case enters the scope after the launch is not added by a second launch:
      // it is refused (409), and creates nothing.
      await book(1, 0).then(({ cp: [late] }) =>
        adminSql()`update public.customers set city = ${city} where id = ${late}`
      );
      const again = await expectProblem(
        await call(cpManager, `/campaigns/${created.id}/launch`, "POST"),
        409,
      );
      assert.equal(again.code, "55000");
      assert.match(again.detail, /this one is running/);
      assert.equal(
        await messageCount(created.id),
        5,
        "still five messages: a second launch creates nothing",
      );
      const [{ n: recipientsAfterRelaunch }] = await adminSql()`
      select count(*)::int as n from public.campaign_recipients where campaign_id = ${created.id}`;
      assert.equal(recipientsAfterRelaunch, 5, "and adds no recipient");
      // What cannot launch has no preview either.
      const previewRunning = await expectProblem(
        await call(cpManager, `/campaigns/${created.id}/preview`),
        409,
      );
      assert.match(previewRunning.detail, /this one is running/);
      const afterGet = await expectJson(await call(cpManager, `/campaigns/${created.id}`), 200);
      assert.equal(afterGet.status, "running");
      assert.ok(afterGet.launched_at);
    } finally {
      await cleanUp(launched);
    }
  },
);

dbTest(
  "campaigns: a step with the payment link is accepted; one using what no message carries is 422",
  async () => {
    const { city } = await book(2, 0);
    // The issue's flow: a first message, then the email with the payment link three days on.
    const flow = await draft(cpManager, {
      name: `Pay link ${city}`,
      channel: "email",
      purpose: "service",
      template_code: tpl.a,
      steps: [{ channel: "email", template_code: "payment_link_reminder", wait_hours: 72 }],
      audience_filter: { city },
    });
    assert.deepEqual(
      flow.steps.map((s: { template_code: string }) => s.template_code),
      ["payment_link_reminder"],
    );
    const name = `Agent step ${city}`;
    const refused = await expectProblem(
      await call(cpManager, "/campaigns", "POST", {
        name,
        channel: "email",
        purpose: "service",
        template_code: tpl.a,
        steps: [
          { channel: "email", template_code: "payment_link_reminder", wait_hours: 72 },
          { channel: "email", template_code: tpl.agent, wait_hours: 24 },
        ],
        audience_filter: { city },
      }),
      422,
    );
    assert.equal(refused.code, "22023");
    assert.equal(
      refused.detail,
      `step 3 (email ${tpl.agent}) uses {{agent_name}}, which no campaign message carries`,
    );
    assert.equal(await campaignsNamed(name), 0, "nothing created");
  },
);

dbTest("campaigns: pause, resume, cancel, and 409 on a wrong transition", async () => {
  const { city } = await book(3, 0);
  const created = await draft(cpManager, {
    name: `States ${city}`,
    channel: "email",
    purpose: "service",
    template_code: tpl.a,
    audience_filter: { city },
  });
  const id = created.id;
  const post = (action: string) => call(cpManager, `/campaigns/${id}/${action}`, "POST");
  try {
    assert.equal((await expectProblem(await post("pause"), 409)).code, "55000", "pause a draft");
    await expectProblem(await post("resume"), 409);
    const launch = await expectJson(await post("launch"), 200);
    assert.equal(launch.queued, 2, "two with an email");
    await expectProblem(await post("resume"), 409);

    const paused = await expectJson(await post("pause"), 200);
    assert.deepEqual(paused, { status: "paused", messages_held: 2 });
    const [held] = await adminSql()`
      select count(*) filter (where next_attempt_at = 'infinity'
                                and deferred_reason = 'campaign_paused')::int as held,
             count(*) filter (where status = 'queued')::int as queued
        from public.messages where campaign_id = ${id}`;
    assert.deepEqual({ ...held }, { held: 2, queued: 2 }, "held, not cancelled");
    await expectProblem(await post("pause"), 409);

    const resumed = await expectJson(await post("resume"), 200);
    assert.deepEqual(resumed, { status: "running", messages_resumed: 2 });
    const [free] = await adminSql()`
      select count(*)::int as n from public.messages
       where campaign_id = ${id} and status = 'queued' and next_attempt_at <> 'infinity'`;
    assert.equal(free.n, 2, "claimable again");

    const cancelled = await expectJson(await post("cancel"), 200);
    assert.deepEqual(cancelled, { status: "cancelled", messages_cancelled: 2 });
    const [left] = await adminSql()`
      select count(*) filter (where status = 'queued')::int as queued,
             count(*) filter (where status = 'cancelled')::int as cancelled
        from public.messages where campaign_id = ${id}`;
    assert.deepEqual({ ...left }, { queued: 0, cancelled: 2 });
    await expectProblem(await post("cancel"), 409);
    await expectProblem(await post("launch"), 409);
    await expectProblem(await post("pause"), 409);
    await expectProblem(await post("resume"), 409);
    // A cancelled campaign has no preview (it answered 200 with counts that did not add up).
    const preview = await expectProblem(await call(cpManager, `/campaigns/${id}/preview`), 409);
    assert.equal(preview.code, "55000");
    assert.match(preview.detail, /this one is cancelled/);
    const [row] = await adminSql()`select status::text from public.campaigns where id = ${id}`;
    assert.equal(row.status, "cancelled");
    assert.equal(await messageCount(id), 3, "no message added by the refused launch");
  } finally {
    await cleanUp([id]);
  }
});

dbTest(
  "campaigns: a launch before start_at answers the status and counts the database has",
  async () => {
    const { city } = await book(2, 0);
    const created = await draft(cpManager, {
      name: `Later ${city}`,
      channel: "email",
      purpose: "service",
      template_code: tpl.a,
      audience_filter: { city },
      start_at: new Date(Date.now() + 200 * 86_400_000).toISOString(),
    });
    try {
      const launch = await expectJson(
        await call(cpManager, `/campaigns/${created.id}/launch`, "POST"),
        200,
      );
      const [row] = await adminSql()`
      select status::text from public.campaigns where id = ${created.id}`;
      assert.equal(launch.status, row.status, "the status the launch left");
      assert.ok(["scheduled", "running"].includes(launch.status), launch.status);
      assert.equal(launch.audience, 2);
      assert.equal(launch.created, await messageCount(created.id), "created is what was created");
      const [queued] = await adminSql()`
        select count(*)::int as n from public.messages
         where campaign_id = ${created.id} and status = 'queued'`;
      const cancelled = await expectJson(
        await call(cpManager, `/campaigns/${created.id}/cancel`, "POST"),
        200,
      );
      assert.deepEqual(cancelled, { status: "cancelled", messages_cancelled: queued.n });
    } finally {
      await cleanUp([created.id]);
    }
  },
);

dbTest("campaigns: stats per variant add up to the launch's audience", async () => {
  const { city } = await book(8, 1);
  const created = await draft(cpManager, {
    name: `Stats ${city}`,
    channel: "email",
    purpose: "service",
    variants: [
      { code: "A", template_code: tpl.a, weight: 40 },
      { code: "B", template_code: tpl.b, weight: 60 },
    ],
    audience_filter: { city },
  });
  try {
    const before = await expectJson(await call(cpManager, `/campaigns/${created.id}/stats`), 200);
    assert.deepEqual(before.data, [], "no recipients before the launch");
    const launch = await expectJson(
      await call(cpManager, `/campaigns/${created.id}/launch`, "POST"),
      200,
    );
    assert.equal(launch.audience, 8);
    // The webhooks' work: one message read, one delivered.
    await adminSql()`
      update public.messages m
         set status = x.status::public.message_status, sent_at = now(), delivered_at = now(),
             read_at = case when x.status = 'read' then now() end
        from (select id, case when row_number() over (order by id) = 1 then 'read'
                              else 'delivered' end as status
                from public.messages
               where campaign_id = ${created.id} and status = 'queued'
               order by id limit 2) x
       where m.id = x.id`;
    const stats = await expectJson(await call(cpManager, `/campaigns/${created.id}/stats`), 200);
    assert.ok(stats.data.length >= 1);
    const expected = await adminSql()`
      select v.code, count(r.customer_id)::int as n
        from public.campaign_variants v left join public.campaign_recipients r on r.variant_id = v.id
       where v.campaign_id = ${created.id} group by v.code order by v.code`;
    assert.deepEqual(
      stats.data.map((
        row: { variant: string; recipients: number },
      ) => [row.variant, row.recipients]),
      expected.map((row) => [row.code, row.n]),
      "one row per variant, with its recipients (also one nobody drew)",
    );
    for (const row of stats.data) {
      const statuses = row.queued + row.sent + row.delivered + row.read + row.failed +
        row.blocked + row.cancelled;
      assert.equal(statuses, row.recipients, `variant ${row.variant}: statuses add up`);
      assert.match(row.cost_paise, /^(0|[1-9][0-9]*)(\.[0-9]+)?$/);
      for (
        const rate of [row.delivery_rate, row.read_rate, row.payment_rate, row.conversion_rate]
      ) {
        assert.ok(rate === null || typeof rate === "number", "rates are numbers");
      }
    }
    const sum = (key: string) =>
      stats.data.reduce((total: number, row: Record<string, number>) => total + row[key], 0);
    assert.equal(sum("recipients"), launch.audience, "the recipients are the launch's audience");
    assert.equal(sum("read"), 1);
    assert.equal(sum("delivered"), 1);
    assert.equal(sum("blocked"), launch.blocked);
    assert.equal(sum("queued"), launch.queued - 2);
    assert.ok(
      stats.data.some((row: { cost_paise: string }) => Number(row.cost_paise) > 0),
      "what was sent has a cost",
    );
    const control = stats.data[0];
    assert.equal(control.read_significant, null, "the control is not compared with itself");
  } finally {
    await cleanUp([created.id]);
  }
});

dbTest("campaigns: agents and analysts get 403 everywhere; nothing changes", async () => {
  const { city } = await book(2, 0);
  const created = await draft(cpManager, {
    name: `Refused ${city}`,
    channel: "email",
    purpose: "service",
    template_code: tpl.a,
    audience_filter: { city },
  });
  const path = `/campaigns/${created.id}`;
  for (const who of [agent, analyst]) {
    await expectProblem(await call(who, "/campaigns"), 403);
    await expectProblem(
      await call(who, "/campaigns", "POST", {
        name: `By ${who} ${city}`,
        channel: "email",
        purpose: "service",
        template_code: tpl.a,
        scope_node_id: cpNode,
      }),
      403,
    );
    assert.equal(await campaignsNamed(`By ${who} ${city}`), 0, "nothing created");
    await expectProblem(await call(who, path), 403);
    await expectProblem(await call(who, `${path}/preview`), 403);
    await expectProblem(await call(who, `${path}/launch`, "POST"), 403);
    await expectProblem(await call(who, `${path}/pause`, "POST"), 403);
    await expectProblem(await call(who, `${path}/resume`, "POST"), 403);
    await expectProblem(await call(who, `${path}/cancel`, "POST"), 403);
    await expectProblem(await call(who, `${path}/stats`), 403);
  }
  await expectProblem(await api("/campaigns"), 401);
  const [row] =
    await adminSql()`select status::text from public.campaigns where id = ${created.id}`;
  assert.equal(row.status, "draft", "still a draft");
  assert.equal(await messageCount(created.id), 0, "nothing queued");
});

dbTest(
  "campaigns: another subtree's manager gets 404; a scope outside the subtree is 403",
  async () => {
    const { city } = await book(2, 0);
    const created = await draft(cpManager, {
      name: `Ours ${city}`,
      channel: "email",
      purpose: "service",
      template_code: tpl.a,
      audience_filter: { city },
    });
    const path = `/campaigns/${created.id}`;
    await expectProblem(await call(ggnManager, path), 404);
    await expectProblem(await call(ggnManager, `${path}/preview`), 404);
    await expectProblem(await call(ggnManager, `${path}/launch`, "POST"), 404);
    await expectProblem(await call(ggnManager, `${path}/pause`, "POST"), 404);
    await expectProblem(await call(ggnManager, `${path}/cancel`, "POST"), 404);
    await expectProblem(await call(ggnManager, `${path}/stats`), 404);
    await expectProblem(await call(cpManager, `/campaigns/${crypto.randomUUID()}`), 404);
    await expectProblem(await call(cpManager, "/campaigns/not-a-uuid"), 422);
    const [row] =
      await adminSql()`select status::text from public.campaigns where id = ${created.id}`;
    assert.equal(row.status, "draft");
    assert.equal(await messageCount(created.id), 0);

    for (const scope of [ggnNode, northNode, crypto.randomUUID()]) {
      const name = `Outside ${scope} ${city}`;
      await expectProblem(
        await call(cpManager, "/campaigns", "POST", {
          name,
          scope_node_id: scope,
          channel: "email",
          purpose: "service",
          template_code: tpl.a,
        }),
        403,
      );
      assert.equal(await campaignsNamed(name), 0, `nothing created for ${scope}`);
    }
    // Admins run any subtree's; an admin has no node of their own, so names one.
    const adminName = `Admin ${city}`;
    await expectProblem(
      await call(admin, "/campaigns", "POST", {
        name: adminName,
        channel: "email",
        purpose: "service",
        template_code: tpl.a,
      }),
      422,
    );
    const byAdmin = await draft(admin, {
      name: adminName,
      scope_node_id: ggnNode,
      channel: "email",
      purpose: "service",
      template_code: tpl.a,
      start_at: "2030-01-01T10:00:00+05:30",
    });
    assert.equal(byAdmin.scope_node_id, ggnNode);
    assert.equal(byAdmin.start_at, "2030-01-01T04:30:00.000Z");
    assert.equal(byAdmin.spread, null);
    await expectJson(await call(ggnManager, `/campaigns/${byAdmin.id}`), 200);
    await expectProblem(await call(cpManager, `/campaigns/${byAdmin.id}`), 404);
  },
);

dbTest(
  "campaigns: crafted or malformed filters and variants are refused or match nobody",
  async () => {
    const { city } = await book(3, 0);
    const base = { channel: "email", purpose: "service", template_code: tpl.a };
    const refused: [string, Record<string, unknown>][] = [
      ["an unknown filter key", { audience_filter: { city, "1=1": true } }],
      ["a misspelt key", { audience_filter: { cities: [city] } }],
      ["a premium as text", { audience_filter: { premium_min: "0 or 1=1" } }],
      ["a negative premium", { audience_filter: { premium_min: -1 } }],
      ["a fractional premium", { audience_filter: { premium_max: 10.5 } }],
      ["min above max", { audience_filter: { premium_min: 200, premium_max: 100 } }],
      ["a date that is not one", { audience_filter: { expiry_from: "yesterday" } }],
      ["dates reversed", {
        audience_filter: { expiry_from: "2027-01-02", expiry_to: "2027-01-01" },
      }],
      ["an unknown product line", { audience_filter: { product_line: "boat" } }],
      ["a closed stage", { audience_filter: { stage: "renewed" } }],
      ["a city as a number", { audience_filter: { city: 42 } }],
      ["an empty city list", { audience_filter: { city: [] } }],
      ["an operator object", { audience_filter: { city: { $ne: "" } } }],
      ["a filter that is an array", { audience_filter: [city] }],
      ["weights summing to 90", {
        template_code: undefined,
        variants: [
          { code: "A", template_code: tpl.a, weight: 60 },
          { code: "B", template_code: tpl.b, weight: 30 },
        ],
      }],
      ["template_code and variants", {
        variants: [
          { code: "A", template_code: tpl.a, weight: 50 },
          { code: "B", template_code: tpl.b, weight: 50 },
        ],
      }],
      ["neither template_code nor variants", { template_code: undefined }],
      ["one variant", {
        template_code: undefined,
        variants: [{ code: "A", template_code: tpl.a, weight: 100 }],
      }],
      ["duplicate variant codes", {
        template_code: undefined,
        variants: [
          { code: "A", template_code: tpl.a, weight: 50 },
          { code: "A", template_code: tpl.b, weight: 50 },
        ],
      }],
      ["a template that does not exist", { template_code: "no_such_template_anywhere" }],
      ["an SMS template sent by email", { template_code: tpl.sms }],
      ["a template using what no campaign message carries", { template_code: tpl.agent }],
      ["a step using what no campaign message carries", {
        steps: [{ channel: "email", template_code: tpl.agent, wait_hours: 24 }],
      }],
      ["a variant using what no campaign message carries", {
        template_code: undefined,
        variants: [
          { code: "A", template_code: tpl.a, weight: 50 },
          { code: "B", template_code: tpl.agent, weight: 50 },
        ],
      }],
      ["a wait beyond 90 days", {
        steps: [{ channel: "sms", template_code: tpl.sms, wait_hours: 2161 }],
      }],
      ["an unknown condition", {
        steps: [{ channel: "sms", template_code: tpl.sms, wait_hours: 1, condition: "sometimes" }],
      }],
      ["a window without its end", { spread: { rate_per_hour: 10, window_start: "10:00" } }],
      ["a window ending before it starts", {
        spread: { rate_per_hour: 10, window_start: "18:00", window_end: "10:00" },
      }],
      // Service messages wait out quiet hours (21:00-08:00 IST): the sends would all go at 08:00.
      ["a window inside quiet hours", {
        spread: { rate_per_hour: 10, window_start: "02:00", window_end: "05:00" },
      }],
      ["a start without its offset", { start_at: "2027-01-01T10:00:00" }],
      ["a status from the client", { status: "running" }],
      ["the voice channel", { channel: "voice" }],
    ];
    for (const [what, change] of refused) {
      const name = `Crafted ${what} ${city}`;
      const body = JSON.parse(JSON.stringify({ name, ...base, ...change }));
      await expectProblem(await call(cpManager, "/campaigns", "POST", body), 422);
      assert.equal(await campaignsNamed(name), 0, `${what}: nothing created`);
    }

    // A value that looks like SQL is a value: it matches no city, and nothing is queued.
    const injected = await draft(cpManager, {
      name: `Injected ${city}`,
      ...base,
      audience_filter: { city: "x' or 1=1 --", stage: ["new"] },
    });
    assert.deepEqual(injected.audience_filter, { city: "x' or 1=1 --", stage: ["new"] });
    const preview = await expectJson(
      await call(cpManager, `/campaigns/${injected.id}/preview`),
      200,
    );
    assert.deepEqual(
      { audience: preview.audience, queued: preview.queued, cost: preview.estimated_cost_paise },
      { audience: 0, queued: 0, cost: "0" },
    );
    const launch = await expectJson(
      await call(cpManager, `/campaigns/${injected.id}/launch`, "POST"),
      200,
    );
    assert.equal(launch.audience, 0);
    assert.equal(launch.created, 0);
    assert.equal(await messageCount(injected.id), 0, "no message queued");
    await expectJson(await call(cpManager, `/campaigns/${injected.id}/cancel`, "POST"), 200);

    // A filter written around the API (PostgREST lets a manager update a draft's columns) is
    // still refused by the database when previewed or launched: 422, nothing queued.
    const bypass = await draft(cpManager, { name: `Bypass ${city}`, ...base });
    await adminSql()`
    update public.campaigns
       set audience_filter = ${adminSql().json({ city, agent_id: "anyone" })}
     where id = ${bypass.id}`;
    await expectProblem(await call(cpManager, `/campaigns/${bypass.id}/preview`), 422);
    await expectProblem(await call(cpManager, `/campaigns/${bypass.id}/launch`, "POST"), 422);
    assert.equal(await messageCount(bypass.id), 0);
    const [row] =
      await adminSql()`select status::text from public.campaigns where id = ${bypass.id}`;
    assert.equal(row.status, "draft");
  },
);

dbTest(
  "campaigns: a preview and a launch may run past the desk's statement timeout",
  async () => {
    const { city } = await book(3, 0);
    const created = await draft(cpManager, {
      name: `Long ${city}`,
      channel: "email",
      purpose: "service",
      template_code: tpl.a,
      audience_filter: { city },
    });
    // The desk's own limit squeezed to 1 ms: a preview or launch takes longer than that, and
    // would be cancelled (503) but for the longer limit of their transaction.
    const [{ setting }] = await adminSql()`
      select coalesce((select s from pg_catalog.pg_db_role_setting d cross join unnest(d.setconfig) s
                        where d.setrole = 'authenticated'::regrole and d.setdatabase = 0
                          and starts_with(s, 'statement_timeout=')), '') as setting`;
    await adminSql()`alter role authenticated set statement_timeout = '1ms'`;
    try {
      const preview = await expectJson(
        await call(cpManager, `/campaigns/${created.id}/preview`),
        200,
      );
      assert.equal(preview.audience, 3);
      const launch = await expectJson(
        await call(cpManager, `/campaigns/${created.id}/launch`, "POST"),
        200,
      );
      assert.deepEqual([launch.status, launch.created], ["running", 3]);
    } finally {
      if (setting) {
        await adminSql().unsafe(
          `alter role authenticated set statement_timeout = '${setting.split("=")[1]}'`,
        );
      } else await adminSql()`alter role authenticated reset statement_timeout`;
      await cleanUp([created.id]);
    }
  },
);
