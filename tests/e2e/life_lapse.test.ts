// Journey 4: a life policy nobody pays. Past its expiry the daily jobs move its case to
// pending_lapse and the cadence sends the grace reminders (+1, +7, +15, +30 days, each naming the
// grace end); 30 days after expiry the grace ends, and the next day the case and the policy
// lapse: the customer is told once, and no reminder follows. A monthly life policy has 15 days
// of grace, not 30. Driven by pg_cron's job functions with as_of (days in the past, 11:00 IST),
// the worker sending to the sandbox's email vendor (SES) and its signed delivery callbacks; SQL
// only for the policy feed and the assertions.
import assert from "node:assert/strict";
import {
  addDays,
  adminSql,
  api,
  istTime,
  istToday,
  journey,
  json,
  messageDate,
  ordinaryVendorDay,
  runCadence,
  runDailyJobs,
  tokenFor,
} from "./_stack.ts";
import {
  caseOfPolicy,
  type CaseRow,
  emailRequestsFor,
  feedPolicy,
  installmentsOf,
  messagesOfCase,
  waitDelivered,
  waitSent,
} from "./_desk_journeys.ts";

const agent = "gopal.agent@py360.test";
const otherAgent = "kavya.agent@py360.test";

/** An entry of GET /policies/{id}/timeline. */
interface TimelineEntry {
  kind: string;
  actor: { type: string; id: string | null };
  summary: string;
}

/** The case of a policy, which must exist. */
async function caseOf(policyId: string): Promise<CaseRow> {
  const row = await caseOfPolicy(policyId);
  assert.ok(row, "the policy has a case");
  return row;
}

/**
 * One day of pg_cron for `date` (IST, 11:00): the daily jobs, then the cadence. Returns the
 * cases' messages queued that day, once the worker has handed them to the vendor.
 */
async function day(date: string, caseIds: () => string[]) {
  const asOf = istTime(date, "11:00");
  const jobs = await runDailyJobs(asOf);
  assert.equal(jobs.business_date, date);
  await runCadence(asOf);
  const queued = [];
  for (const id of caseIds()) {
    const rows = (await messagesOfCase(id)).filter((m) => m.queued_at.getTime() === asOf.getTime());
    queued.push(...rows);
  }
  // Sent before the next day comes, as on a real day (a case closing cancels what is still queued).
  if (queued.length > 0) await waitSent(queued.map((m) => m.id), `the messages of ${date}`);
  return queued;
}

journey(
  "life lapse: an unpaid annual life policy → pending_lapse with grace reminders → lapsed after 30 days",
  async (t) => {
    await ordinaryVendorDay();
    let caseId = "";
    // Expiry 33 days ago: the grace (30 days) ended three days ago, so every day of the
    // journey, the lapse and the day after it included, is in the past.
    const today = istToday();
    const expiry = addDays(today, -33);
    const graceEnd = addDays(expiry, 30);
    const premium = 2_400_000; // ₹24,000 a year, paid yearly
    const fed = await feedPolicy({
      agentEmail: agent,
      productLine: "life",
      premium,
      sumInsured: 100_000_000,
      endDate: expiry,
      label: "Lapse Annual",
    });
    const ours = () => [caseId];

    await t.step("seven days before expiry the daily jobs open the case", async () => {
      assert.equal(await caseOfPolicy(fed.policyId), undefined, "no case before the jobs");
      const jobs = await runDailyJobs(istTime(addDays(expiry, -7)));
      assert.ok(jobs.opened >= 1, JSON.stringify(jobs));
      const opened = await caseOf(fed.policyId);
      caseId = opened.id;
      assert.deepEqual(
        [opened.stage, opened.due_date, opened.grace_end, opened.assignee_email],
        ["new", expiry, graceEnd, agent],
        "due at expiry, 30 days of grace for annual life",
      );
      assert.equal(opened.policy_status, "active");
      assert.deepEqual(await installmentsOf(caseId), [
        { installment_number: 1, due_date: expiry, amount: premium, status: "pending" },
      ]);
    });

    await t.step("−7 and −1: the renewal reminders reach the customer by email", async () => {
      for (const offset of [-7, -1]) {
        const sent = await day(addDays(expiry, offset), ours);
        assert.equal(sent.length, 1, `one reminder at ${offset}`);
        const [m] = sent;
        assert.deepEqual(
          [m.channel, m.purpose, m.template_code, m.recipient],
          ["email", "service", "renewal_due", fed.email],
        );
        assert.equal(
          m.subject,
          `Your policy ${fed.policyNumber} expires on ${messageDate(expiry)}`,
        );
        assert.match(m.body, /The renewal premium is ₹24,000\./);
      }
      assert.equal((await caseOf(fed.policyId)).stage, "new", "not expired yet");
    });

    await t.step(
      "+1: unpaid past expiry → pending_lapse, and the first grace reminder",
      async () => {
        const sent = await day(addDays(expiry, 1), ours);
        const renewal = await caseOf(fed.policyId);
        assert.equal(renewal.stage, "pending_lapse");
        assert.equal(renewal.policy_status, "active", "covered during grace");
        assert.equal(renewal.closed_at, null);
        assert.deepEqual((await installmentsOf(caseId)).map((i) => i.status), ["overdue"]);
        assert.equal(sent.length, 1);
        assert.equal(sent[0].template_code, "life_grace_end");
        assert.equal(
          sent[0].subject,
          `Your policy ${fed.policyNumber} lapses after ${messageDate(graceEnd)}`,
        );
        assert.ok(
          sent[0].body.includes(`until ${messageDate(graceEnd)}; pay ₹24,000 by then`),
          sent[0].body,
        );
        // The stage change is the system's, in the audit log.
        const [audit] = await adminSql()`
          select actor_id, actor_role from public.audit_log
           where table_name = 'renewal_cases' and row_id = ${caseId} and action = 'update'
             and old_row ->> 'stage' = 'new' and new_row ->> 'stage' = 'pending_lapse'`;
        assert.ok(audit, "the move to pending_lapse is audited");
        assert.equal(audit.actor_id, null, "by a job, not a person");
      },
    );

    await t.step("the same day run again changes nothing and sends nothing twice", async () => {
      const before = (await messagesOfCase(caseId)).length;
      const again = await day(addDays(expiry, 1), ours);
      assert.equal(again.length, 1, "still the one reminder of that day");
      assert.equal((await messagesOfCase(caseId)).length, before);
      assert.equal((await caseOf(fed.policyId)).stage, "pending_lapse");
    });

    await t.step(
      "+7, +15 and +30 (the last day of grace): reminders, still pending_lapse",
      async () => {
        for (const offset of [7, 15, 30]) {
          const sent = await day(addDays(expiry, offset), ours);
          assert.equal(sent.length, 1, `one grace reminder at +${offset}`);
          assert.equal(sent[0].template_code, "life_grace_end");
          assert.ok(sent[0].subject?.endsWith(`lapses after ${messageDate(graceEnd)}`));
          const renewal = await caseOf(fed.policyId);
          assert.equal(renewal.stage, "pending_lapse", `+${offset}: still in grace`);
          assert.equal(renewal.policy_status, "active");
        }
      },
    );

    await t.step(
      "+31: grace over → lapsed, the customer told once; no more reminders",
      async () => {
        const sent = await day(addDays(expiry, 31), ours);
        const renewal = await caseOf(fed.policyId);
        assert.equal(renewal.stage, "lapsed");
        assert.equal(renewal.policy_status, "lapsed");
        assert.ok(renewal.closed_at, "a lapsed case is closed");
        assert.deepEqual((await installmentsOf(caseId)).map((i) => i.status), ["overdue"]);
        // The lapse notice (queued with the stage change), and no reminder.
        assert.deepEqual(sent.map((m) => [m.template_code, m.channel]), [
          ["case_lapsed_life", "email"],
        ]);
        assert.equal(sent[0].subject, `Policy ${fed.policyNumber} has lapsed`);
        assert.ok(
          sent[0].body.includes(`end of its grace period on ${messageDate(graceEnd)}`),
          sent[0].body,
        );
        // The day after (yesterday) the jobs and the cadence leave it alone.
        const before = (await messagesOfCase(caseId)).length;
        assert.deepEqual(await day(addDays(expiry, 32), ours), []);
        assert.equal((await messagesOfCase(caseId)).length, before);
        assert.equal((await caseOf(fed.policyId)).stage, "lapsed");
      },
    );

    await t.step(
      "the agent's desk shows it: the case lapsed, owed, and why in the timeline",
      async () => {
        const token = await tokenFor(agent);
        const renewal = await json(await api(`/cases/${caseId}`, { token }));
        assert.deepEqual([renewal.stage, renewal.outstanding], ["lapsed", premium]);
        const { entries } = await json<{ entries: TimelineEntry[] }>(
          await api(`/policies/${fed.policyId}/timeline`, { token }),
        );
        const moves = entries.filter((e) => e.kind === "case.changed").map((e) => [
          e.actor.type,
          /stage (\w+ → \w+)/.exec(e.summary)?.[1],
        ]);
        assert.deepEqual(moves, [
          ["system", "new → pending_lapse"],
          ["system", "pending_lapse → lapsed"],
        ], "the jobs moved it, nobody else");
        // Someone else's agent does not see it.
        await json(await api(`/cases/${caseId}`, { token: await tokenFor(otherAgent) }), 404);
      },
    );

    await t.step(
      "six reminders and the lapse notice, each sent once, all delivered",
      async () => {
        const all = await messagesOfCase(caseId);
        assert.deepEqual(all.map((m) => m.template_code), [
          "renewal_due",
          "renewal_due",
          "life_grace_end",
          "life_grace_end",
          "life_grace_end",
          "life_grace_end",
          "case_lapsed_life",
        ]);
        assert.deepEqual(
          all.map((m) => m.queued_at.toISOString()),
          [-7, -1, 1, 7, 15, 30, 31].map((d) => istTime(addDays(expiry, d)).toISOString()),
        );
        // The delivery callbacks of all of them came back (signed, through the webhooks).
        const delivered = await waitDelivered(all.map((m) => m.id), "the customer's messages");
        assert.deepEqual([...new Set(delivered.map((m) => m.status))], ["delivered"]);
        for (const m of all) {
          const { requests: received } = await emailRequestsFor(m.id);
          assert.equal(received.length, 1, "the sandbox's email vendor took it once");
          assert.equal(received[0].to, fed.email);
          assert.equal(received[0].id, m.provider_message_id);
          assert.equal(received[0].subject, m.subject);
        }
      },
    );
  },
);

journey(
  "life lapse: a monthly life policy lapses after 15 days of grace, an annual one of the same day does not",
  async (t) => {
    await ordinaryVendorDay();
    const ids: Record<string, string> = {};
    // Expiry 17 days ago: a monthly premium's grace (15 days) ended the day before yesterday,
    // and the lapse (+16) is yesterday.
    const today = istToday();
    const expiry = addDays(today, -17);
    const monthly = await feedPolicy({
      agentEmail: agent,
      productLine: "life",
      paymentFrequency: "monthly",
      premium: 1_200_000, // ₹12,000 a year in 12 installments of ₹1,000
      sumInsured: 50_000_000,
      endDate: expiry,
      label: "Lapse Monthly",
    });
    const annual = await feedPolicy({
      agentEmail: agent,
      productLine: "life",
      premium: 1_200_000,
      sumInsured: 50_000_000,
      endDate: expiry,
      label: "Lapse Annual Twin",
    });
    const ours = () => Object.values(ids);

    await t.step("the cases open with 15 and 30 days of grace", async () => {
      await day(addDays(expiry, -1), () => []);
      const m = await caseOf(monthly.policyId);
      const a = await caseOf(annual.policyId);
      ids.monthly = m.id;
      ids.annual = a.id;
      assert.deepEqual([m.due_date, m.grace_end], [expiry, addDays(expiry, 15)]);
      assert.deepEqual([a.due_date, a.grace_end], [expiry, addDays(expiry, 30)]);
      // The monthly case is owed its first installment, not the year's premium.
      assert.deepEqual(await installmentsOf(m.id), [
        { installment_number: 1, due_date: expiry, amount: 100_000, status: "pending" },
      ]);
      assert.deepEqual((await installmentsOf(a.id)).map((i) => i.amount), [1_200_000]);
    });

    await t.step("+1: both pending_lapse, each reminded of its own grace end", async () => {
      const sent = await day(addDays(expiry, 1), ours);
      assert.equal(sent.length, 2);
      for (const [which, graceDays] of [["monthly", 15], ["annual", 30]] as const) {
        const renewal = await caseOfPolicy(
          which === "monthly" ? monthly.policyId : annual.policyId,
        );
        assert.equal(renewal?.stage, "pending_lapse", which);
        const [m] = (await messagesOfCase(ids[which])).filter((x) =>
          x.template_code === "life_grace_end"
        );
        assert.ok(m, `${which}: a grace reminder`);
        assert.ok(
          m.subject?.endsWith(`lapses after ${messageDate(addDays(expiry, graceDays))}`),
          `${which}: ${m.subject}`,
        );
      }
    });

    // Until 20261130074752 the monthly customer, who owed one ₹1,000 installment, was told to
    // pay the year's ₹12,000 or lose the policy.
    await t.step({
      name: "+1: each grace reminder asks for what is owed, not the year's premium",
      fn: async () => {
        const graceReminder = async (caseId: string) =>
          (await messagesOfCase(caseId)).find((x) => x.template_code === "life_grace_end")!;
        const m = await graceReminder(ids.monthly);
        assert.ok(m.body.includes("pay ₹1,000 by then or the policy lapses"), m.body);
        const a = await graceReminder(ids.annual);
        assert.ok(a.body.includes("pay ₹12,000 by then or the policy lapses"), a.body);
      },
    });

    await t.step(
      "+15, the monthly policy's last day of grace: both still pending_lapse",
      async () => {
        await day(addDays(expiry, 15), ours);
        assert.equal((await caseOf(monthly.policyId)).stage, "pending_lapse");
        assert.equal((await caseOf(annual.policyId)).stage, "pending_lapse");
      },
    );

    await t.step("+16: the monthly policy lapses; the annual one stays in grace", async () => {
      const sent = await day(addDays(expiry, 16), ours);
      const m = await caseOf(monthly.policyId);
      const a = await caseOf(annual.policyId);
      assert.deepEqual([m.stage, m.policy_status], ["lapsed", "lapsed"]);
      assert.deepEqual([a.stage, a.policy_status], ["pending_lapse", "active"]);
      // The monthly customer hears of the lapse; the annual one gets nothing that day (its +15
      // reminder went the day before, its +30 is still to come).
      assert.deepEqual(sent.map((x) => [x.template_code, x.recipient]), [
        ["case_lapsed_life", monthly.email],
      ]);
      assert.ok(sent[0].body.includes(`grace period on ${messageDate(addDays(expiry, 15))}`));
      assert.deepEqual(
        (await messagesOfCase(ids.monthly)).map((x) => x.template_code),
        ["renewal_due", "life_grace_end", "life_grace_end", "case_lapsed_life"],
        "−1, +1, +15 and the lapse notice",
      );
      assert.deepEqual(
        (await messagesOfCase(ids.annual)).map((x) => x.template_code),
        ["renewal_due", "life_grace_end", "life_grace_end"],
      );
    });
  },
);
