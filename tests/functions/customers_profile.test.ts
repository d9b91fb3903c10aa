// GET /customers/{id}/profile enhanced: risk, engagement and payment behaviour counted from rows
// the test creates (and only the rows the caller may see), and the summary in words: the
// assistant's (the sandbox's OpenAI) kept in the cache until the figures change, or the rules'
// when the assistant is off, down, slow, wrong, over budget or rate-limited; never a 429, and no
// personal data in any prompt.
import assert from "node:assert/strict";
import { CustomerProfileSchema } from "../../functions/api/customers/routes.ts";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";
import {
  aiRows,
  aiTimeoutMs,
  assertNoPersonalData,
  type DeskCustomer,
  deskCustomer,
  startAiDesk,
} from "./_ai_desk.ts";

const desk = await startAiDesk();
const agent = "farah.agent@py360.test";
const people: DeskCustomer[] = [];

/**
 * A fresh customer of Farah's, remembered for the prompt scan. The prompt holds their figures
 * only, so two customers with the same figures share one cached summary: unless `same`, an
 * installment 3 days overdue of a random amount makes this one's figures their own.
 */
async function customer(options: Parameters<typeof deskCustomer>[0] & { same?: boolean } = {}) {
  const created = await deskCustomer(options);
  people.push(created);
  if (!options.same) {
    await adminSql()`
      insert into public.outstanding_amounts (case_id, installment_number, due_date, amount,
                                              status)
      values (${created.caseId}, 12, private.business_date(now()) - 3,
              ${100_000 + Math.floor(Math.random() * 1_000_000) * 10}, 'overdue')`;
  }
  return created;
}

/** The profile as `email` sees it, checked against the route's own schema. */
async function profileOf(customerId: string, email = agent) {
  const body = await expectJson(
    await api(`/customers/${customerId}/profile`, { token: await tokenFor(email) }),
    200,
  );
  CustomerProfileSchema.parse(body);
  return body;
}

/** A payment attempt of the case that failed, `daysAgo` days ago. */
async function failedPayment(caseId: string, daysAgo = 1) {
  const id = `pay_T${crypto.randomUUID().replaceAll("-", "").slice(0, 14)}`;
  await adminSql()`
    insert into public.payments (case_id, razorpay_payment_id, amount, status, failure_reason,
                                 created_at)
    values (${caseId}, ${id}, 100000, 'failed', 'card declined',
            now() - make_interval(days => ${daysAgo}))`;
}

dbTest(
  "profile: risk, engagement and payment behaviour are counted from the customer's rows",
  async () => {
    const c = await customer({ same: true });
    const sql = adminSql();
    // Installments: #1 (the fixture's) due in 25 days; #2 paid on time; #3 paid 10 days late;
    // #4 past due with 1,000 of its 3,000 paid.
    await sql`
    insert into public.outstanding_amounts (case_id, installment_number, due_date, amount,
                                            amount_paid, status, paid_at)
    values (${c.caseId}, 2, private.business_date(now()) - 40, 200000, 200000, 'paid',
            now() - interval '42 days'),
           (${c.caseId}, 3, private.business_date(now()) - 20, 200000, 200000, 'paid',
            now() - interval '10 days'),
           (${c.caseId}, 4, private.business_date(now()) - 5, 300000, 100000, 'pending', null)`;
    await failedPayment(c.caseId);
    // Messages in the last 90 days: read, delivered, sent, failed before sending, still queued;
    // and one delivered 100 days ago, which does not count.
    const message = (key: string, status: string, created: string, at: Record<string, string>) =>
      sql`
      insert into public.messages (customer_id, case_id, channel, purpose, body, idempotency_key,
                                   status, created_at, sent_at, delivered_at, read_at, failed_at)
      values (${c.customerId}, ${c.caseId}, 'whatsapp', 'service', 'x',
              ${`profile:${c.caseId}:${key}`}, ${status}, now() - ${created}::interval,
              now() - ${at.sent ?? null}::interval, now() - ${at.delivered ?? null}::interval,
              now() - ${at.read ?? null}::interval, now() - ${at.failed ?? null}::interval)`;
    await message("read", "read", "30 days", {
      sent: "30 days",
      delivered: "30 days",
      read: "29 days",
    });
    await message("delivered", "delivered", "20 days", { sent: "20 days", delivered: "20 days" });
    await message("sent", "sent", "10 days", { sent: "10 days" });
    await message("failed", "failed", "5 days", { failed: "5 days" });
    await message("queued", "queued", "1 hour", {});
    await message("old", "delivered", "100 days", { sent: "100 days", delivered: "100 days" });
    // Two tracked links; the first opened twice.
    const [{ first, second }] = await sql`
    select private.tracked_link(${c.caseId}, ${`https://rzp.io/i/a${c.caseNumber.slice(-6)}`},
                                'payment_link') as first,
           private.tracked_link(${c.caseId}, ${`https://rzp.io/i/b${c.caseNumber.slice(-6)}`},
                                'payment_link') as second`;
    assert.notEqual(first, second);
    const code = (first as string).split("/").pop()!;
    await sql`select private.record_link_click(${code}, 'Mozilla/5.0', true, now() - interval '3 days')`;
    await sql`select private.record_link_click(${code}, 'Mozilla/5.0', true, now() - interval '2 days')`;
    // Replies: an SMS through Twilio and a WhatsApp message, from the customer's number; and one
    // from somebody else's.
    const tag = crypto.randomUUID().slice(0, 8);
    await sql`select private.record_message_events('twilio', ${
      sql.json([{
        event_key: `SMin${tag}`,
        kind: "inbound",
        provider_message_id: `SMin${tag}`,
        address: c.phone,
        channel: "sms",
        reply: "Will pay on Monday",
        occurred_at: new Date(Date.now() - 86_400_000).toISOString(),
        payload: { From: c.phone, Body: "Will pay on Monday" },
      }, {
        event_key: `SMother${tag}`,
        kind: "inbound",
        provider_message_id: `SMother${tag}`,
        address: "+919000000001",
        channel: "sms",
        reply: "Hello",
        payload: { From: "+919000000001", Body: "Hello" },
      }])
    })`;
    await sql`select private.record_message_events('whatsapp_cloud', ${
      sql.json([{
        event_key: `wamid.in${tag}`,
        kind: "inbound",
        provider_message_id: `wamid.in${tag}`,
        address: c.phone,
        channel: "whatsapp",
        reply: "Ok",
        payload: { from: c.phone!.slice(1), id: `wamid.in${tag}`, type: "text" },
      }])
    })`;
    await sql`select * from private.score_lapse_risk(now())`;
    const [score] = await sql`
    select score, band, reasons from public.case_risk_scores where case_id = ${c.caseId}`;

    const profile = await profileOf(c.customerId);
    assert.equal(profile.risk.open_cases, 1);
    assert.equal(profile.risk.scored_cases, 1);
    assert.equal(profile.risk.highest_score, score.score);
    assert.equal(profile.risk.highest_band, score.band);
    assert.equal(profile.risk.cases[0].case_id, c.caseId);
    assert.deepEqual(profile.risk.cases[0].reasons, score.reasons);
    assert.deepEqual(profile.engagement, {
      messages_sent: 3,
      delivered: 2,
      read: 1,
      failed: 1,
      links_offered: 2,
      links_clicked: 1,
      clicks: 2,
      replies: 2,
      delivery_rate: 0.667,
      read_rate: 0.5,
      click_rate: 0.5,
      reply_rate: 1,
    });
    const { last_failed_payment_at: lastFailed, ...payments } = profile.payment_behaviour;
    assert.deepEqual(payments, {
      installments_paid_on_time: 1,
      installments_paid_late: 1,
      installments_overdue: 1,
      overdue_amount: 200000,
      installments_upcoming: 1,
      installments_waived: 0,
      failed_payments: 1,
      on_time_rate: 0.5,
    });
    assert.ok(Date.now() - Date.parse(lastFailed) < 2 * 86_400_000, lastFailed);
    // The communication summary is unchanged beside them.
    assert.equal(profile.communications.counts.length, 5);
  },
);

dbTest("profile: the figures count only what the caller may see", async () => {
  const c = await customer({ same: true });
  // A second case of the same customer, held by an agent of another branch, with two failed
  // payments: Farah does not see it, the admin does.
  const [other] = await adminSql()`
    with policy as (
      insert into public.policies (policy_number, product_line, insurer, customer_id, agent_id,
                                   premium, sum_insured, start_date, end_date)
      select ${`HOME/${c.caseNumber}`}, 'home', 'Test General', ${c.customerId}, p.id, 500000,
             10000000, private.business_date(now()) - 350, private.business_date(now()) + 15
        from public.profiles p where p.email = 'gopal.agent@py360.test'
      returning id, customer_id, agent_id, end_date
    )
    insert into public.renewal_cases (policy_id, customer_id, assignee_id, due_date, grace_end)
    select id, customer_id, agent_id, end_date, end_date from policy
    returning id`;
  await failedPayment(other.id);
  await failedPayment(other.id, 2);
  await failedPayment(c.caseId);
  const mine = await profileOf(c.customerId);
  assert.equal(mine.payment_behaviour.failed_payments, 1);
  assert.equal(mine.risk.open_cases, 1);
  const all = await profileOf(c.customerId, "admin@py360.test");
  assert.equal(all.payment_behaviour.failed_payments, 3);
  assert.equal(all.risk.open_cases, 2);
  // Her branch manager sees her cases; an agent of another team, an analyst, nobody: 404.
  assert.equal((await profileOf(c.customerId, "cp.manager@py360.test")).risk.open_cases, 1);
  for (const email of ["kavya.agent@py360.test", "analyst@py360.test"]) {
    await expectProblem(
      await api(`/customers/${c.customerId}/profile`, { token: await tokenFor(email) }),
      404,
    );
  }
});

dbTest(
  "profile: the model's summary is cached until the figures change (a payment fails)",
  async () => {
    await desk.reset();
    const c = await customer();
    const first = await profileOf(c.customerId);
    assert.equal(first.ai_summary.source, "model");
    assert.equal(first.ai_summary.fallback_reason, undefined);
    assert.match(first.ai_summary.ai_request_id, /^[0-9a-f-]{36}$/);
    assert.ok(first.ai_summary.text.length > 0);
    assert.equal((await desk.prompts()).length, 1);

    // The same figures: the cache, the same text and time, even with the model down.
    await desk.control({ outage: true });
    const again = await profileOf(c.customerId);
    assert.equal(again.ai_summary.source, "cache");
    assert.equal(again.ai_summary.text, first.ai_summary.text);
    assert.equal(again.ai_summary.generated_at, first.ai_summary.generated_at);
    assert.notEqual(again.ai_summary.ai_request_id, first.ai_summary.ai_request_id);
    assert.equal((await desk.prompts()).length, 1, "no new prompt for a cached summary");

    // A payment fails: new figures, a new prompt; with the model down, the rules say so.
    await failedPayment(c.caseId);
    const down = await profileOf(c.customerId);
    assert.equal(down.payment_behaviour.failed_payments, 1);
    assert.equal(down.ai_summary.source, "rules");
    assert.equal(down.ai_summary.fallback_reason, "unavailable");
    assert.match(down.ai_summary.text, /1 failed payment/);
    assert.equal((await desk.prompts()).length, 2);

    // The model back: a new summary of the new figures, then that one from the cache.
    await desk.control({ outage: false });
    const changed = await profileOf(c.customerId);
    assert.equal(changed.ai_summary.source, "model");
    assert.notEqual(changed.ai_summary.text, first.ai_summary.text);
    assert.notEqual(changed.ai_summary.ai_request_id, first.ai_summary.ai_request_id);
    const cached = await profileOf(c.customerId);
    assert.equal(cached.ai_summary.source, "cache");
    assert.equal(cached.ai_summary.text, changed.ai_summary.text);
    const prompts = await desk.prompts();
    assert.equal(prompts.length, 3);
    assert.ok(prompts.every((p) => p.template === "profile_summary"));
    // The prompts differ only by the figures: the second (after the payment) says so.
    assert.match(prompts[0].body, /"failed_payments":0/);
    assert.match(prompts[2].body, /"failed_payments":1/);
  },
);

dbTest("profile: identical figures are one prompt: another user, another customer", async () => {
  await desk.reset();
  const c = await customer();
  const farah = await profileOf(c.customerId);
  const manager = await profileOf(c.customerId, "cp.manager@py360.test");
  assert.equal(farah.ai_summary.source, "model");
  assert.equal(manager.ai_summary.source, "cache");
  assert.equal(manager.ai_summary.text, farah.ai_summary.text);
  assert.equal(manager.ai_summary.generated_at, farah.ai_summary.generated_at);
  // Two fresh customers with nothing but their names, phones and emails apart: the same prompt
  // (nothing personal in it), so the second gets the first's summary from the cache.
  const [one, two] = [await customer({ same: true }), await customer({ same: true })];
  await failedPayment(one.caseId, 7);
  await failedPayment(two.caseId, 7);
  const a = await profileOf(one.customerId);
  const b = await profileOf(two.customerId);
  assert.equal(b.ai_summary.source, "cache");
  assert.equal(b.ai_summary.text, a.ai_summary.text);
  assert.equal((await desk.prompts()).length, a.ai_summary.source === "model" ? 2 : 1);
});

dbTest(
  "profile: down, slow, malformed, refused, over budget, rate-limited or off: the rules' summary",
  async () => {
    const cases: [string, () => Promise<void>, string, number][] = [
      ["outage", () => desk.control({ outage: true }), "unavailable", 1],
      ["429", () => desk.control({ rateLimited: true }), "unavailable", 1],
      ["slow", () => desk.control({ latencyMs: aiTimeoutMs + 1000 }), "timeout", 1],
      ["malformed", () => desk.control({ malformed: "json" }), "invalid", 2],
      ["off-schema", () => desk.control({ malformed: "schema" }), "invalid", 2],
      ["refusal", () => desk.control({ refusal: true }), "invalid", 2],
      ["truncated", () => desk.control({ truncated: true }), "invalid", 2],
      ["budget", () => desk.setting("AI_USER_DAILY_BUDGET_PAISE", 0), "over_budget", 0],
      ["rate", () => desk.setting("AI_RATE_LIMIT_PER_MINUTE", 0), "rate_limited", 0],
      ["off", () => desk.setting("ENABLE_AI_ASSISTANT", false), "disabled", 0],
    ];
    for (const [what, breakIt, reason, calls] of cases) {
      await desk.reset();
      const c = await customer();
      await failedPayment(c.caseId);
      try {
        await breakIt();
        // Never a 429, even over the rate limit: a valid profile with the rules' summary.
        const profile = await profileOf(c.customerId);
        assert.equal(profile.ai_summary.source, "rules", what);
        assert.equal(profile.ai_summary.fallback_reason, reason, what);
        // The failed or refused request is on record; switched off, none was made.
        assert.equal(profile.ai_summary.ai_request_id === null, reason === "disabled", what);
        assert.match(profile.ai_summary.text, /1 failed payment/, what);
        assert.equal(profile.customer.id, c.customerId);
        assert.equal((await desk.prompts()).length, calls, what);
      } finally {
        await desk.setting("AI_USER_DAILY_BUDGET_PAISE", 5000);
        await desk.setting("AI_RATE_LIMIT_PER_MINUTE", 1000);
        await desk.setting("ENABLE_AI_ASSISTANT", true);
      }
    }
    await desk.reset();
  },
);

dbTest(
  "profile: no phone (cleared by the desk), no email, neither, blocked everywhere, a name of fact words: 200 with the model's summary",
  async () => {
    await desk.reset();
    const token = await tokenFor(agent);
    // The desk clears the phone number.
    const cleared = await customer();
    const patched = await expectJson(
      await api(`/customers/${cleared.customerId}`, {
        token,
        method: "PATCH",
        body: { phone: null },
      }),
      200,
    );
    assert.equal(patched.phone, null);
    const noEmail = await customer({ email: null });
    const neither = await customer({ phone: null, email: null });
    const blocked = await customer();
    for (const channel of ["sms", "whatsapp", "email"]) {
      await adminSql()`
        insert into public.consents (customer_id, channel, purpose, status, source)
        values (${blocked.customerId}, ${channel}, 'service', 'withdrawn', 'web_form')`;
      await adminSql()`
        insert into public.suppressions (channel, address, reason, source)
        values (${channel}, ${channel === "email" ? blocked.email!.toLowerCase() : blocked.phone},
                'hard_bounce', 'test')`;
    }
    // Not in the prompt scan: its name's parts are common words.
    const named = await deskCustomer({ fullName: "Case Motor" });
    await adminSql()`
      insert into public.outstanding_amounts (case_id, installment_number, due_date, amount,
                                              status)
      values (${named.caseId}, 12, private.business_date(now()) - 3, 7654300, 'overdue')`;
    await adminSql()`select * from private.score_lapse_risk(now())`;
    for (
      const [what, c, phone, email] of [
        ["phone cleared", cleared, null, cleared.email],
        ["no email", noEmail, noEmail.phone, null],
        ["neither", neither, null, null],
        ["blocked", blocked, blocked.phone, blocked.email],
        ["Case Motor", named, named.phone, named.email],
      ] as const
    ) {
      const profile = await profileOf(c.customerId);
      assert.deepEqual([profile.customer.phone, profile.customer.email], [phone, email], what);
      assert.equal(profile.ai_summary.source, "model", what);
      assert.equal(profile.ai_summary.fallback_reason, undefined, what);
      assert.ok(profile.ai_summary.text.length > 0, what);
      assert.doesNotMatch(profile.ai_summary.text, /<customer>/, what);
      assert.equal(profile.risk.open_cases, 1, what);
    }
    assert.deepEqual(
      (await aiRows(agent)).slice(-5).map((row) => [row.outcome, row.source]),
      Array(5).fill(["ok", "model"]),
    );
  },
);

dbTest(
  "customers: a lone UTF-16 surrogate in a name or a city is a 422 naming it; nothing changes",
  async () => {
    const c = await customer();
    const token = await tokenFor(agent);
    for (
      const [body, path] of [
        [{ full_name: "Asha \ud800 Verma" }, "full_name"],
        [{ full_name: "\udfff" }, "full_name"],
        [{ city: "Chennai\ud83d" }, "city"],
      ] as const
    ) {
      const problem = await expectProblem(
        await api(`/customers/${c.customerId}`, { token, method: "PATCH", body }),
        422,
      );
      assert.ok(
        problem.errors.some((e: { path: string }) => e.path === path),
        `${path}: ${JSON.stringify(problem.errors)}`,
      );
    }
    const [row] = await adminSql()`
    select full_name, city from public.customers where id = ${c.customerId}`;
    assert.deepEqual([row.full_name, row.city], [c.fullName, null]);
    // A well-formed pair (an emoji) is text like any other.
    const fine = await expectJson(
      await api(`/customers/${c.customerId}`, {
        token,
        method: "PATCH",
        body: { city: "Chennai \ud83c\udf34" },
      }),
      200,
    );
    assert.equal(fine.city, "Chennai 🌴");
  },
);

dbTest("profile: a customer the caller may not see asks the model nothing", async () => {
  await desk.reset();
  const c = await customer({ agent: "gopal.agent@py360.test" });
  const before = (await aiRows(agent)).length;
  await expectProblem(
    await api(`/customers/${c.customerId}/profile`, { token: await tokenFor(agent) }),
    404,
  );
  assert.equal((await aiRows(agent)).length, before);
  assert.equal((await desk.prompts()).length, 0);
});

dbTest("profile: the rules' summary words the figures", async () => {
  await desk.setting("ENABLE_AI_ASSISTANT", false);
  try {
    const c = await customer({ same: true });
    await adminSql()`
      insert into public.outstanding_amounts (case_id, installment_number, due_date, amount,
                                              status)
      values (${c.caseId}, 2, private.business_date(now()) - 3, 1234500, 'overdue')`;
    await adminSql()`select * from private.score_lapse_risk(now())`;
    const profile = await profileOf(c.customerId);
    const summary = profile.ai_summary;
    assert.equal(summary.source, "rules");
    assert.equal(summary.ai_request_id, null);
    assert.match(
      summary.text,
      new RegExp(`lapse risk \\(${profile.risk.highest_score}/100\\) on 1 open case`),
    );
    assert.match(summary.text, /No messages in the last 90 days\./);
    assert.match(summary.text, /1 installment overdue \(₹12,345\)/);
    assert.ok(!summary.text.includes(c.firstName), "the rules name nobody either");
  } finally {
    await desk.setting("ENABLE_AI_ASSISTANT", true);
  }
});

dbTest("profile: no prompt the sandbox received holds personal data", async () => {
  // Every prompt of this module, the customers' names, phones and emails among the figures'.
  const prompts = await desk.allPrompts();
  assert.ok(prompts.length >= 10, `${prompts.length} prompts`);
  assertNoPersonalData(prompts, people);
});

dbTest("profile: close the harness", async () => {
  await desk.close();
});
