// Autopay end to end (issue 8, "Autopay for installment policies"): the api app in-process,
// Razorpay's plans and subscriptions played by the vendor sandbox, its signed subscription
// webhooks through the gateway into /webhooks/razorpay, the reconciliation runner and the
// pre-debit notice job on the real database. A monthly life policy with three equal installments
// gets one plan (reused by the next of that shape) and one subscription; every refusal makes
// nothing here or at Razorpay; the customer's authorisation and a debit settle the installment
// due once, however often the webhook comes; failed debits fall back to a payment link and its
// reminder, once; a debit without a delivered pre-debit notice is paused at Razorpay; the desk
// cancels the mandate. With every webhook lost, the reconciliation poll credits the debit (from
// the subscription's paid invoices) once and falls a halt back to a link; a cancel Razorpay
// refuses because the subscription already expired records the expiry.
import assert from "node:assert/strict";
import { reconcilePayments } from "../../functions/_shared/payments/reconcile.ts";
import { razorpay } from "../../functions/_shared/payments/razorpay_calls.ts";
import { adminSql, api, dbTest, expectJson, expectProblem, tokenFor } from "./_helpers.ts";
import {
  agent,
  caseOwing,
  control,
  inspect,
  madeEvents,
  otherAgent,
  paymentMessages,
  startPayments,
} from "./_payments.ts";

const harness = await startPayments();
const { sandbox } = harness;

const day = 86_400_000;
const hour = 3_600_000;

/** A call that changed the account at the sandbox (`GET /_inspect/razorpay/requests`). */
interface Accepted {
  id: string;
  subject: string;
  params: Record<string, unknown> & { item?: { amount: number } };
  ourId?: string;
}

/** What POST/GET /autopay answer (MandateSchema). */
interface Mandate {
  id: string;
  subscription_id: string;
  short_url: string;
  status: string;
  installment_amount: number;
  max_amount: number;
  period: string;
  interval: number;
  total_count: number;
  paid_count: number;
  start_at: string;
  charge_at: string | null;
  pause_reason: string | null;
  notices: { installment_id: string; amount: number; charge_at: string }[];
  reused?: boolean;
}

/**
 * A fresh case of `agent` on a monthly life policy whose installments are replaced by
 * `amounts` (paise) due `days` after today (IST business date); its customer has an email
 * address unless `email` is false (then only a phone: an email notice is blocked).
 */
async function installmentCase(
  amounts: number[],
  { days = [5, 35, 65], frequency = "monthly", email = true } = {},
) {
  const fixture = await caseOwing([1500000]);
  const sql = adminSql();
  await sql`
    update public.policies set payment_frequency = ${frequency}, product_line = 'life'
     where id = ${fixture.policyId}`;
  if (email) {
    await sql`
      update public.customers set email = ${`autopay.${fixture.customerId}@py360.test`}
       where id = ${fixture.customerId}`;
  }
  await sql`delete from public.outstanding_amounts where case_id = ${fixture.caseId}`;
  for (const [i, amount] of amounts.entries()) {
    await sql`
      insert into public.outstanding_amounts (case_id, installment_number, due_date, amount)
      values (${fixture.caseId}, ${i + 1},
              private.business_date(now()) + ${days[i] ?? 30 * i + 5}::int, ${amount})`;
  }
  return fixture;
}

/** POST /cases/{caseId}/autopay as `who`, expecting `status`. */
async function openAutopay(caseId: string, status = 201, who = agent): Promise<Mandate> {
  return await expectJson(
    await api(`/cases/${caseId}/autopay`, { token: await tokenFor(who), method: "POST" }),
    status,
  ) as Mandate;
}

/** The case's autopay as its agent sees it (GET /cases/{caseId}/autopay). */
async function getAutopay(caseId: string): Promise<Mandate> {
  return await expectJson(
    await api(`/cases/${caseId}/autopay`, { token: await tokenFor(agent) }),
    200,
  ) as Mandate;
}

/** The customer authorises the mandate at short_url; the webhooks are in when it returns. */
async function authorize(subscriptionId: string) {
  await control(sandbox, "razorpay/subscriptions/authorize", { subscriptionId });
  await sandbox.callbacksSettled();
}

/** Runs the subscription's schedule now (`charged` or `failed`): the status and the answer. */
async function charge(subscriptionId: string, outcome: "charged" | "failed" = "charged") {
  const response = await fetch(`${sandbox.url}/_control/razorpay/subscriptions/charge`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ subscriptionId, outcome }),
  });
  const body = await response.json();
  await sandbox.callbacksSettled();
  return { status: response.status, body };
}

/** The mandate row (superuser). */
async function mandateRow(caseId: string) {
  const [row] = await adminSql()`
    select id, status, paid_count, razorpay_subscription_id, razorpay_plan_id, pause_reason,
           fallback_link_id, charge_at
      from public.autopay_mandates where case_id = ${caseId}
     order by created_at desc limit 1`;
  return row;
}

/** Everything a refused POST could have made: mandates, plans, journal rows, sandbox calls. */
async function madeSoFar() {
  const [row] = await adminSql()<{ mandates: number; plans: number; calls: number }[]>`
    select (select count(*)::int from public.autopay_mandates) as mandates,
           (select count(*)::int from public.autopay_plans) as plans,
           (select count(*)::int from private.razorpay_calls) as calls`;
  const requests = await inspect<Accepted[]>(sandbox, "razorpay/requests");
  return { ...row, atRazorpay: requests.length };
}

/** The installments of a case, oldest first: status and amount paid. */
async function installments(caseId: string) {
  const rows = await adminSql()`
    select installment_number as n, status::text, amount_paid::int as paid
      from public.outstanding_amounts where case_id = ${caseId} order by installment_number`;
  return rows.map((row) => ({ ...row }));
}

/** The case's messages of a template: status, variables, and where {{payment_link}} (our
 * tracked redirect, public.tracked_links) forwards. */
async function messagesOf(caseId: string, template: string) {
  const rows = await adminSql()`
    select m.id, m.status::text, m.variables,
           (select tl.target_url from public.tracked_links tl
             where m.variables ->> 'payment_link' like '%/' || tl.code) as payment_link_target
      from public.messages m
      join public.templates t on t.id = m.template_id
     where m.case_id = ${caseId} and t.code = ${template} order by m.created_at`;
  return rows.map((row) => ({ ...row })) as {
    id: string;
    status: string;
    variables: Record<string, string>;
    payment_link_target: string | null;
  }[];
}

/** The pre-debit notice job at `asOf` (a moved clock): this mandate's rows. */
async function scheduleNotices(asOf: Date, mandateId: string) {
  const rows = await adminSql()`
    select outstanding_amount_id, outcome, message_id
      from private.schedule_autopay_notices(${asOf}) where autopay_mandate_id = ${mandateId}`;
  return rows.map((row) => ({ ...row }));
}

/** Runs the schedule with every webhook it makes lost (made, never delivered). */
async function chargeLost(subscriptionId: string, outcome: "charged" | "failed") {
  await control(sandbox, "razorpay/webhooks", { drop: true });
  try {
    const done = await charge(subscriptionId, outcome);
    assert.equal(done.status, 200, JSON.stringify(done.body));
    return done.body;
  } finally {
    await control(sandbox, "razorpay/webhooks", { drop: false });
  }
}

dbTest(
  "autopay: one plan and one subscription per case, the live mandate answered again",
  async () => {
    const amount = 123400;
    const first = await installmentCase([amount, amount, amount]);
    const opened = await openAutopay(first.caseId, 201);
    assert.match(opened.subscription_id, /^sub_[A-Za-z0-9]{14}$/);
    assert.match(opened.short_url, /^https:\/\/rzp\.io\/i\/\w+$/);
    assert.equal(opened.status, "created");
    assert.equal(opened.reused, false);
    assert.deepEqual(
      {
        installment_amount: opened.installment_amount,
        max_amount: opened.max_amount,
        period: opened.period,
        interval: opened.interval,
        total_count: opened.total_count,
        paid_count: opened.paid_count,
      },
      {
        installment_amount: amount,
        max_amount: 10000000,
        period: "monthly",
        interval: 1,
        total_count: 3,
        paid_count: 0,
      },
    );
    // The first debit: the first installment's due date at 10:00 IST.
    const [due] = await adminSql()`
    select ((due_date + time '10:00') at time zone 'Asia/Kolkata') as at
      from public.outstanding_amounts where case_id = ${first.caseId} and installment_number = 1`;
    assert.equal(new Date(opened.start_at).getTime(), (due.at as Date).getTime());

    // Razorpay holds that subscription, on a plan of our amount, starting then, not notifying.
    const atRazorpay = await razorpay().fetchSubscription(opened.subscription_id);
    assert.equal(atRazorpay.status, "created");
    assert.equal(atRazorpay.total_count, 3);
    assert.equal(atRazorpay.start_at, Math.floor((due.at as Date).getTime() / 1000));
    assert.equal(atRazorpay.customer_notify, false);
    assert.equal((atRazorpay.notes as Record<string, string>).autopay_id, opened.id);
    assert.equal((atRazorpay.notes as Record<string, string>).case_id, first.caseId);

    // Asked again: the same mandate, nothing new at Razorpay.
    const again = await openAutopay(first.caseId, 200);
    assert.equal(again.reused, true);
    assert.equal(again.id, opened.id);
    assert.equal(again.subscription_id, opened.subscription_id);

    // A second case of the same shape reuses the plan: one plan, two subscriptions.
    const second = await installmentCase([amount, amount, amount]);
    const other = await openAutopay(second.caseId, 201);
    assert.notEqual(other.subscription_id, opened.subscription_id);
    const requests = await inspect<Accepted[]>(sandbox, "razorpay/requests");
    const plans = requests.filter((r) =>
      r.subject === "plan.create" && r.params.item?.amount === amount
    );
    assert.equal(plans.length, 1, JSON.stringify(plans));
    const subscriptions = requests.filter((r) =>
      r.subject === "subscription.create" && [opened.id, other.id].includes(r.ourId ?? "")
    );
    assert.deepEqual(
      subscriptions.map((r) => r.id).sort(),
      [
        opened.subscription_id,
        other.subscription_id,
      ].sort(),
    );
    assert.ok(subscriptions.every((r) => r.params.plan_id === plans[0].id));
    const mandates = await adminSql()`
    select distinct razorpay_plan_id from public.autopay_mandates
     where case_id in (${first.caseId}, ${second.caseId})`;
    assert.deepEqual(mandates.map((m) => m.razorpay_plan_id), [plans[0].id]);
    const [planRows] = await adminSql()`
    select count(*)::int as n from public.autopay_plans where amount = ${amount}`;
    assert.equal(planRows.n, 1);
  },
);

dbTest("autopay: every refusal makes nothing here or at Razorpay", async () => {
  const amount = 150000;
  const before = await madeSoFar();
  const refused = async (caseId: string, status: number, who = agent) => {
    const problem = await expectProblem(
      await api(`/cases/${caseId}/autopay`, { token: await tokenFor(who), method: "POST" }),
      status,
    );
    assert.deepEqual(await madeSoFar(), before, `${status} ${JSON.stringify(problem)}`);
    return problem;
  };
  // Another agent's case.
  const mine = await installmentCase([amount, amount, amount]);
  await refused(mine.caseId, 404, otherAgent);
  // An annual policy.
  await refused((await installmentCase([amount], { frequency: "annual" })).caseId, 422);
  // Installments of different amounts.
  await refused((await installmentCase([amount, amount + 100, amount])).caseId, 422);
  // An installment above AUTOPAY_MANDATE_LIMIT_PAISE (₹1,00,000).
  const above = 10000000 + 100;
  const limit = await refused((await installmentCase([above, above, above])).caseId, 422);
  assert.match(String(limit.detail), /mandate limit/);
  // A closed case.
  const closed = await installmentCase([amount, amount, amount]);
  await adminSql()`
    update public.renewal_cases set stage = 'lost', lost_reason = 'Moved to another insurer'
     where id = ${closed.caseId}`;
  assert.equal((await refused(closed.caseId, 409)).code, "PY006");
  // Nothing due.
  const settled = await installmentCase([amount, amount, amount]);
  await adminSql()`
    update public.outstanding_amounts set status = 'waived', reason = 'goodwill'
     where case_id = ${settled.caseId}`;
  assert.equal((await refused(settled.caseId, 409)).code, "PY010");
  // And the first of them, asked by its own agent, is made (the refusals were not a broken route).
  await openAutopay(mine.caseId, 201);
  const after = await madeSoFar();
  assert.equal(after.mandates, before.mandates + 1);
});

dbTest(
  "autopay: the customer authorises, a debit settles the installment due once, a replay changes nothing",
  async () => {
    const amount = 200000;
    const fixture = await installmentCase([amount, amount, amount]);
    const opened = await openAutopay(fixture.caseId);
    await authorize(opened.subscription_id);
    assert.equal((await mandateRow(fixture.caseId)).status, "authenticated");

    const charged = await charge(opened.subscription_id);
    assert.equal(charged.status, 200, JSON.stringify(charged.body));
    const payId = charged.body.payment.id as string;
    const credited = async () => {
      const rows = await adminSql()`
        select p.razorpay_payment_id, p.autopay_mandate_id, p.status::text,
               p.credited_at is not null as credited,
               (select count(*)::int from public.payment_allocations a where a.payment_id = p.id)
                 as allocations
          from public.payments p where p.case_id = ${fixture.caseId}`;
      return rows.map((row) => ({ ...row }));
    };
    const expected = [{
      razorpay_payment_id: payId,
      autopay_mandate_id: opened.id,
      status: "captured",
      credited: true,
      allocations: 1,
    }];
    assert.deepEqual(await credited(), expected);
    const settledOnce = [
      { n: 1, status: "paid", paid: amount },
      { n: 2, status: "pending", paid: 0 },
      { n: 3, status: "pending", paid: 0 },
    ];
    assert.deepEqual(await installments(fixture.caseId), settledOnce);
    assert.equal(await paymentMessages(`receipt:${payId}`), 1, "the receipt is queued");
    const shown = await getAutopay(fixture.caseId);
    assert.equal(shown.status, "active");
    assert.equal(shown.paid_count, 1);

    // Razorpay replays the subscription.charged event (the same event id): nothing changes.
    const [event] = (await madeEvents(sandbox, payId)).filter((e) =>
      e.event === "subscription.charged"
    );
    assert.ok(event, "the charge made a subscription.charged event");
    await control(sandbox, "razorpay/replay", { eventId: event.id });
    await sandbox.callbacksSettled();
    const deliveries = await inspect<{ eventId: string; status: number }[]>(
      sandbox,
      `razorpay/deliveries?eventId=${event.id}`,
    );
    assert.deepEqual(deliveries.map((d) => d.status), [200, 200]);
    assert.deepEqual(await credited(), expected);
    assert.deepEqual(await installments(fixture.caseId), settledOnce);
    assert.equal(await paymentMessages(`receipt:${payId}`), 1);
    assert.equal((await getAutopay(fixture.caseId)).paid_count, 1);
  },
);

dbTest(
  "autopay: failed debits halt the subscription and fall back to one payment link and its reminder",
  async () => {
    const amount = 300000;
    const fixture = await installmentCase([amount, amount, amount]);
    const opened = await openAutopay(fixture.caseId);
    await authorize(opened.subscription_id);
    await control(sandbox, "razorpay/subscriptions", { haltAfterFailures: 2 });
    try {
      const first = await charge(opened.subscription_id, "failed");
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal((await mandateRow(fixture.caseId)).status, "pending");
      await charge(opened.subscription_id, "failed");
      assert.equal((await mandateRow(fixture.caseId)).status, "halted");
    } finally {
      await control(sandbox, "razorpay/subscriptions", { haltAfterFailures: 3 });
    }
    assert.deepEqual((await installments(fixture.caseId))[0], { n: 1, status: "pending", paid: 0 });

    const linksAtRazorpay = async () => {
      const links = await adminSql()`
        select reference_id from public.payment_links where case_id = ${fixture.caseId}`;
      const requests = await inspect<Accepted[]>(sandbox, "razorpay/requests");
      return requests.filter((r) =>
        r.subject === "payment_link.create" &&
        links.some((l) => l.reference_id === r.ourId)
      );
    };
    await reconcilePayments(razorpay(), { maxItems: 1000, asOf: new Date(Date.now() + hour) });
    const [link] = await adminSql()`
      select pl.id, pl.status, pl.amount::int, pl.short_url, pl.outstanding_amount_id
        from public.payment_links pl where pl.case_id = ${fixture.caseId}`;
    assert.ok(link, "a payment link for the uncollected installment");
    assert.equal(link.status, "created");
    assert.equal(link.amount, amount);
    const [installment] = await adminSql()`
      select id from public.outstanding_amounts
       where case_id = ${fixture.caseId} and installment_number = 1`;
    assert.equal(link.outstanding_amount_id, installment.id);
    assert.equal((await mandateRow(fixture.caseId)).fallback_link_id, link.id);
    assert.equal((await linksAtRazorpay()).length, 1, "created at Razorpay once");
    const reminders = await messagesOf(fixture.caseId, "payment_link_reminder");
    assert.equal(reminders.length, 1);
    assert.equal(reminders[0].payment_link_target, link.short_url, "a tracked link to it");
    assert.equal(reminders[0].status, "queued");
    assert.match(String(link.short_url), /^https:\/\//);

    // A later run (past every lease) makes no second link and no second reminder.
    await reconcilePayments(razorpay(), { maxItems: 1000, asOf: new Date(Date.now() + 2 * hour) });
    const links = await adminSql()`
      select id from public.payment_links where case_id = ${fixture.caseId}`;
    assert.equal(links.length, 1);
    assert.equal((await linksAtRazorpay()).length, 1);
    assert.equal((await messagesOf(fixture.caseId, "payment_link_reminder")).length, 1);
  },
);

dbTest(
  "autopay: a pre-debit notice per installment 72-24 h ahead, once; none delivered: paused at Razorpay",
  async () => {
    const amount = 400000;
    // A customer with an email address: the notices go.
    const told = await installmentCase([amount, amount, amount]);
    const opened = await openAutopay(told.caseId);
    await authorize(opened.subscription_id);
    const chargeAt = (await mandateRow(told.caseId)).charge_at as Date;
    assert.equal(chargeAt.getTime(), new Date(opened.start_at).getTime());
    assert.deepEqual(
      await scheduleNotices(new Date(chargeAt.getTime() - 80 * hour), opened.id),
      [],
    );
    const queued = await scheduleNotices(new Date(chargeAt.getTime() - 48 * hour), opened.id);
    assert.deepEqual(queued.map((r) => r.outcome), ["notice_queued"]);
    const [firstInstallment] = await adminSql()`
      select id from public.outstanding_amounts
       where case_id = ${told.caseId} and installment_number = 1`;
    assert.equal(queued[0].outstanding_amount_id, firstInstallment.id);
    for (const hoursAhead of [48, 40, 30]) {
      assert.deepEqual(
        await scheduleNotices(new Date(chargeAt.getTime() - hoursAhead * hour), opened.id),
        [],
        "once, however often the job runs",
      );
    }
    const notices = await messagesOf(told.caseId, "autopay_pre_debit_notice");
    assert.equal(notices.length, 1);
    assert.equal(notices[0].id, queued[0].message_id);
    assert.equal(notices[0].status, "queued");
    assert.equal(notices[0].variables.mandate_reference, opened.subscription_id);
    // The first debit taken, the next installment gets its own notice.
    assert.equal((await charge(opened.subscription_id)).status, 200);
    const nextAt = (await mandateRow(told.caseId)).charge_at as Date;
    assert.ok(nextAt.getTime() > chargeAt.getTime() + 27 * day, String(nextAt));
    const next = await scheduleNotices(new Date(nextAt.getTime() - 48 * hour), opened.id);
    assert.deepEqual(next.map((r) => r.outcome), ["notice_queued"]);
    assert.notEqual(next[0].outstanding_amount_id, queued[0].outstanding_amount_id);
    assert.equal((await messagesOf(told.caseId, "autopay_pre_debit_notice")).length, 2);
    assert.equal((await getAutopay(told.caseId)).notices.length, 2);

    // Customers without an email address: the notice is blocked, and within 24 h of the debit
    // the job asks a pause. One active (debited once: Razorpay pauses it), one only
    // authenticated (Razorpay cancels a subscription paused before its first debit).
    for (const debited of [true, false]) {
      const silent = await installmentCase([amount, amount, amount], { email: false });
      const mandate = await openAutopay(silent.caseId);
      await authorize(mandate.subscription_id);
      if (debited) assert.equal((await charge(mandate.subscription_id)).status, 200);
      const at = (await mandateRow(silent.caseId)).charge_at as Date;
      const blocked = await scheduleNotices(new Date(at.getTime() - 48 * hour), mandate.id);
      assert.deepEqual(blocked.map((r) => r.outcome), ["notice_queued"]);
      assert.deepEqual(
        (await messagesOf(silent.caseId, "autopay_pre_debit_notice")).map((m) => m.status),
        ["blocked"],
      );
      const asked = await scheduleNotices(new Date(at.getTime() - 12 * hour), mandate.id);
      assert.deepEqual(asked.map((r) => r.outcome), ["pause_requested"]);
      assert.equal((await mandateRow(silent.caseId)).pause_reason, "notice_undelivered");

      await reconcilePayments(razorpay(), { maxItems: 1000, asOf: new Date(Date.now() + hour) });
      await sandbox.callbacksSettled();
      const links = () =>
        adminSql()`
          select pl.short_url, o.installment_number as n from public.payment_links pl
            join public.outstanding_amounts o on o.id = pl.outstanding_amount_id
           where pl.case_id = ${silent.caseId}`;
      assert.equal((await links()).length, 0, "no link while the pause is not confirmed");
      const expected = debited ? "paused" : "cancelled";
      assert.equal((await mandateRow(silent.caseId)).status, expected);
      assert.equal((await razorpay().fetchSubscription(mandate.subscription_id)).status, expected);
      const requests = await inspect<Accepted[]>(
        sandbox,
        `razorpay/requests?ourId=${mandate.id}`,
      );
      assert.equal(
        requests.filter((r) => r.subject === "subscription.pause").length,
        1,
        "paused once at Razorpay",
      );
      const refused = await charge(mandate.subscription_id);
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.equal((await mandateRow(silent.caseId)).paid_count, debited ? 1 : 0);

      // The pause confirmed, the installment it covered falls back to a link and its
      // reminder, once, however often the runner comes.
      for (const hours of [2, 3]) {
        await reconcilePayments(razorpay(), {
          maxItems: 1000,
          asOf: new Date(Date.now() + hours * hour),
        });
      }
      const [link, ...more] = await links();
      assert.deepEqual(more, []);
      assert.equal(link?.n, debited ? 2 : 1);
      const reminders = await messagesOf(silent.caseId, "payment_link_reminder");
      assert.deepEqual(reminders.map((r) => r.payment_link_target), [link.short_url]);
    }
  },
);

dbTest(
  "autopay: the agent cancels the mandate at Razorpay; others cannot; nothing live after",
  async () => {
    const amount = 500000;
    const fixture = await installmentCase([amount, amount, amount]);
    const opened = await openAutopay(fixture.caseId);
    await authorize(opened.subscription_id);
    await expectProblem(
      await api(`/cases/${fixture.caseId}/autopay`, {
        token: await tokenFor(otherAgent),
        method: "DELETE",
      }),
      404,
    );
    assert.equal((await mandateRow(fixture.caseId)).status, "authenticated");
    const cancelled = await expectJson(
      await api(`/cases/${fixture.caseId}/autopay`, {
        token: await tokenFor(agent),
        method: "DELETE",
      }),
      200,
    );
    assert.equal(cancelled.status, "cancelled");
    await sandbox.callbacksSettled();
    assert.equal((await mandateRow(fixture.caseId)).status, "cancelled");
    assert.equal((await razorpay().fetchSubscription(opened.subscription_id)).status, "cancelled");
    const cancels = (await inspect<Accepted[]>(sandbox, `razorpay/requests?ourId=${opened.id}`))
      .filter((r) => r.subject === "subscription.cancel");
    assert.equal(cancels.length, 1);
    assert.equal(cancels[0].params.cancel_at_cycle_end, 0);
    await expectProblem(
      await api(`/cases/${fixture.caseId}/autopay`, {
        token: await tokenFor(agent),
        method: "DELETE",
      }),
      404,
    );
    assert.equal(
      (await inspect<Accepted[]>(sandbox, `razorpay/requests?ourId=${opened.id}`))
        .filter((r) => r.subject === "subscription.cancel").length,
      1,
    );
  },
);

dbTest("autopay: a debit whose webhooks are all lost is credited by the poll", async () => {
  const amount = 210000;
  const fixture = await installmentCase([amount, amount, amount]);
  const opened = await openAutopay(fixture.caseId);
  await authorize(opened.subscription_id);
  const charged = await chargeLost(opened.subscription_id, "charged");
  // Past the debit and a day without news: the poll fetches the subscription.
  await reconcilePayments(razorpay(), { maxItems: 1000, asOf: new Date(Date.now() + 26 * hour) });
  assert.equal((await mandateRow(fixture.caseId)).paid_count, 1, "the poll saw the debit");
  const [payment] = await adminSql()`
    select status::text, credited_at is not null as credited, credited_via
      from public.payments where razorpay_payment_id = ${charged.payment.id}`;
  assert.deepEqual({ ...payment }, {
    status: "captured",
    credited: true,
    credited_via: "reconcile",
  });
  assert.deepEqual((await installments(fixture.caseId))[0], { n: 1, status: "paid", paid: amount });

  // The lost webhooks come after all (Razorpay's retries, a dashboard replay), and the poll
  // comes again: the debit stays credited once.
  const payId = charged.payment.id as string;
  const made = await madeEvents(sandbox, payId);
  assert.deepEqual(made.map((e) => e.event).sort(), [
    "order.paid",
    "payment.authorized",
    "payment.captured",
    "subscription.charged",
  ]);
  for (const event of made) await control(sandbox, "razorpay/replay", { eventId: event.id });
  await sandbox.callbacksSettled();
  await reconcilePayments(razorpay(), { maxItems: 1000, asOf: new Date(Date.now() + 2 * day) });
  const notes = await adminSql()`
    select event_type, note from public.payment_events
     where event_id in ${adminSql()(made.map((e) => e.id))} order by event_type`;
  assert.deepEqual(notes.map((row) => [row.event_type, row.note]), [
    ["order.paid", "already_credited"],
    ["payment.authorized", "already_credited"],
    ["payment.captured", "already_credited"],
    ["subscription.charged", "already_credited, mandate active"],
  ]);
  const [once] = await adminSql()`
    select count(*)::int as allocations, sum(a.amount)::int as allocated
      from public.payment_allocations a join public.payments p on p.id = a.payment_id
     where p.razorpay_payment_id = ${payId}`;
  assert.deepEqual({ ...once }, { allocations: 1, allocated: amount });
  assert.equal(await paymentMessages(`receipt:${payId}`), 1, "one receipt");
  assert.deepEqual(await installments(fixture.caseId), [
    { n: 1, status: "paid", paid: amount },
    { n: 2, status: "pending", paid: 0 },
    { n: 3, status: "pending", paid: 0 },
  ]);
});

dbTest("autopay: a halt whose webhooks are all lost still falls back to a link", async () => {
  const amount = 220000;
  const fixture = await installmentCase([amount, amount, amount]);
  const opened = await openAutopay(fixture.caseId);
  await authorize(opened.subscription_id);
  await control(sandbox, "razorpay/subscriptions", { haltAfterFailures: 1 });
  try {
    await chargeLost(opened.subscription_id, "failed");
  } finally {
    await control(sandbox, "razorpay/subscriptions", { haltAfterFailures: 3 });
  }
  for (const hours of [26, 27]) {
    await reconcilePayments(razorpay(), {
      maxItems: 1000,
      asOf: new Date(Date.now() + hours * hour),
    });
  }
  assert.equal((await mandateRow(fixture.caseId)).status, "halted", "the poll saw the halt");
  const links = await adminSql()`
    select short_url from public.payment_links where case_id = ${fixture.caseId}`;
  assert.equal(links.length, 1, "a link for the installment the halted mandate did not collect");
  assert.equal((await messagesOf(fixture.caseId, "payment_link_reminder")).length, 1);
});

dbTest(
  "autopay: cancelling a mandate Razorpay already expired (it sends no webhook for that) answers it expired; a refusal that leaves it live stays 502",
  async () => {
    const amount = 520000;
    const fixture = await installmentCase([amount, amount, amount]);
    const opened = await openAutopay(fixture.caseId);
    const token = await tokenFor(agent);
    const cancel = () => api(`/cases/${fixture.caseId}/autopay`, { token, method: "DELETE" });
    const cancels = async () =>
      (await inspect<Accepted[]>(sandbox, `razorpay/requests?ourId=${opened.id}`))
        .filter((r) => r.subject === "subscription.cancel").length;

    // Razorpay refuses the cancel of a live subscription (a validation error, here injected):
    // it is fetched, still created, and the refusal is answered.
    await control(sandbox, "razorpay", {
      failNext: {
        code: "BAD_REQUEST_ERROR",
        status: 400,
        path: `/v1/subscriptions/${opened.subscription_id}/cancel`,
      },
    });
    await expectProblem(await cancel(), 502);
    assert.equal((await mandateRow(fixture.caseId)).status, "created");

    // The customer never authorised it: Razorpay expires it at expire_by, telling nobody.
    await control(sandbox, "razorpay/subscriptions/expire", {
      subscriptionId: opened.subscription_id,
    });
    assert.equal((await mandateRow(fixture.caseId)).status, "created", "we do not know yet");
    const answered = await expectJson(await cancel(), 200) as Mandate;
    assert.deepEqual([answered.id, answered.status], [opened.id, "expired"]);
    assert.equal((await mandateRow(fixture.caseId)).status, "expired");
    assert.equal(await cancels(), 0, "nothing was cancelled at Razorpay");
    // Nothing live any more.
    await expectProblem(await cancel(), 404);
  },
);

dbTest("autopay: close the harness", async () => {
  await harness.close();
});
