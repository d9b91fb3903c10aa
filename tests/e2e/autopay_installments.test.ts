// Journey 6 (issue 14): an installment policy on autopay: a charge fails, a payment-link
// reminder follows, the customer pays partially, then the rest.
//
// A monthly life policy, fed by SQL with its holder's consents (set-up); its case opened by
// pg_cron's daily jobs; autopay set up by the agent through the API and authorised by the
// customer on Razorpay's page (the sandbox); the pre-debit notice queued by pg_cron's hourly job
// and sent by the worker; the debit failed at Razorpay (the sandbox's schedule) and reported by
// its signed webhooks; the fallback link and its reminder made by the reconciliation, called as
// pg_cron calls it (POST /functions/v1/reconcile with the service_role key); the part payments
// made by the customer in the sandbox and credited by the signed webhooks.
//
// The fallback link takes no part payment (private.open_autopay_fallback_link: one installment,
// the whole of it), so the customer who can pay only part asks their agent, who opens a
// part-payment link for the installment (life allows one: PARTIAL_PAYMENTS, at least 25 % first).
//
// Time: the first debit is the installment's due date at 10:00 IST, which autopay wants at
// least 48 hours ahead, and the notice job queues its notice 72 to 24 hours before it; the due
// date is chosen so that now lies in that window (IST today + 2 before 10:00 IST, + 3 after), and
// the notice job runs at now, as pg_cron runs it. The daily jobs ran yesterday at 06:00 IST.
// The reconciliation and the worker run at real time: the link reminder, a service message, is
// sent at once, at any hour, since the send hours are held open for the journey (journey() in
// _stack.ts).
import assert from "node:assert/strict";
import {
  acceptedBy,
  addDays,
  adminSql,
  api,
  eventually,
  istTime,
  istToday,
  journey,
  json,
  runDailyJobs,
  sandboxControl,
  tokenFor,
} from "./_stack.ts";
import {
  agentEmail,
  caseMessages,
  caseOfPolicy,
  casePayments,
  customerPays,
  feedPolicy,
  installments,
  messageReaches,
  type RazorpayRequest,
  reconcileNow,
  refusedByRazorpay,
  runAutopayNotices,
  stageChanges,
  tapLink,
} from "./_payments_journeys.ts";

const yearly = 3000000; // ₹30,000 a year, in paise
const installment = 250000; // the first monthly installment: yearly - 11 × yearly / 12
const firstPart = 100000;

/** The mandate row (superuser). */
async function mandateOf(caseId: string) {
  const [row] = await adminSql()`
    select id, status, paid_count, razorpay_subscription_id, fallback_installment_id,
           fallback_link_id, fallback_reminded_at
      from public.autopay_mandates where case_id = ${caseId}`;
  return row;
}

/** The case's payment links, oldest first. */
async function linksOf(caseId: string) {
  const rows = await adminSql()`
    select id, razorpay_payment_link_id, reference_id, short_url, amount::int,
           amount_paid::int, accept_partial, status, outstanding_amount_id
      from public.payment_links where case_id = ${caseId} order by created_at`;
  return rows.map((row) => ({ ...row }));
}

journey(
  "journey 6: autopay fails, a link reminder follows, the customer pays part, then the rest",
  async (t) => {
    const sql = adminSql();
    // The two windows meet at 10:00 IST: within a minute of it, the journey waits it out, so
    // that opening autopay (at least 48 h ahead) and the notice job (at most 72 h ahead) a few
    // seconds apart fall on the same side.
    const minuteOfDay = () => Math.floor((Date.now() + 330 * 60_000) / 60_000) % 1440;
    if (minuteOfDay() >= 599 && minuteOfDay() <= 600) {
      await new Promise((resolve) => setTimeout(resolve, (601 - minuteOfDay()) * 60_000));
    }
    const due = addDays(istToday(), minuteOfDay() < 600 ? 2 : 3);
    const agent = await tokenFor(agentEmail);
    const other = await tokenFor("gopal.agent@py360.test");
    const fed = await feedPolicy({
      productLine: "life",
      premium: yearly,
      endDate: due,
      frequency: "monthly",
      preferredChannel: "email",
      serviceConsents: ["sms", "email"],
    });
    let caseId = "";
    let installmentId = "";
    let mandate = { id: "", subscription_id: "", status: "" };
    let fallback = { id: "", razorpay_payment_link_id: "", reference_id: "", short_url: "" };
    let part = { id: "", payment_link_id: "", reference_id: "" };
    let reminderId = "";
    const paid: string[] = [];

    await t.step(
      "the daily jobs open the monthly life case with its first installment",
      async () => {
        await runDailyJobs(istTime(addDays(istToday(), -1), "06:00"));
        const opened = await caseOfPolicy(fed.policyId);
        assert.ok(opened, "the case is opened");
        caseId = opened.id;
        assert.deepEqual([opened.stage, opened.due_date], ["new", due]);
        const [first, ...more] = await installments(caseId);
        assert.deepEqual(more, [], "the renewal collects one installment");
        installmentId = first.id;
        assert.deepEqual(
          { n: first.n, status: first.status, amount: first.amount, paid: first.paid },
          { n: 1, status: "pending", amount: installment, paid: 0 },
        );
      },
    );

    await t.step(
      "the agent sets up autopay; another agent cannot; the customer authorises",
      async () => {
        const refused = await api(`/cases/${caseId}/autopay`, { token: other, method: "POST" });
        await refused.body?.cancel();
        assert.equal(refused.status, 404);
        assert.equal(await mandateOf(caseId), undefined, "the refusal made nothing");

        const opened = await json<Record<string, unknown>>(
          await api(`/cases/${caseId}/autopay`, { token: agent, method: "POST" }),
          201,
        );
        assert.deepEqual(
          [
            opened.status,
            opened.installment_amount,
            opened.total_count,
            opened.period,
            opened.interval,
          ],
          ["created", installment, 1, "monthly", 1],
        );
        assert.equal(
          new Date(opened.start_at as string).getTime(),
          istTime(due, "10:00").getTime(),
          "the first debit: the due date at 10:00 IST",
        );
        mandate = {
          id: opened.id as string,
          subscription_id: opened.subscription_id as string,
          status: "created",
        };
        assert.match(mandate.subscription_id, /^sub_/);
        const created = (await acceptedBy<RazorpayRequest>("razorpay", mandate.id)).filter((r) =>
          r.subject === "subscription.create"
        );
        assert.equal(created.length, 1, "one subscription at Razorpay");

        await sandboxControl("razorpay/subscriptions/authorize", {
          subscriptionId: mandate.subscription_id,
        });
        await eventually(async () => (await mandateOf(caseId))?.status === "authenticated", {
          what: "the mandate authenticated by subscription.authenticated",
        });
        const shown = await json<{ status: string }>(
          await api(`/cases/${caseId}/autopay`, { token: agent }),
        );
        assert.equal(shown.status, "authenticated");
      },
    );

    await t.step("the pre-debit notice goes out before the debit, once", async () => {
      const queued = await runAutopayNotices(new Date(), mandate.id);
      assert.deepEqual(
        queued.map((r) => [r.outstanding_amount_id, r.outcome]),
        [[installmentId, "notice_queued"]],
      );
      const notice = await messageReaches(queued[0].message_id!, "delivered");
      assert.deepEqual(
        [notice.template_code, notice.channel, notice.purpose, notice.recipient],
        ["autopay_pre_debit_notice", "email", "transactional", fed.email],
      );
      assert.equal(notice.variables.amount_due, "₹2,500");
      assert.equal(notice.variables.mandate_reference, mandate.subscription_id);
      assert.deepEqual(await runAutopayNotices(new Date(), mandate.id), [], "once");
    });

    await t.step(
      "the debit fails: the mandate is pending and the installment falls back to a link",
      async () => {
        const charged = await sandboxControl<{ payment?: { id: string; status: string } }>(
          "razorpay/subscriptions/charge",
          { subscriptionId: mandate.subscription_id, outcome: "failed" },
        );
        assert.equal(charged.payment?.status, "failed");
        const row = await eventually(async () => {
          const m = await mandateOf(caseId);
          return m?.status === "pending" && m.fallback_installment_id ? m : false;
        }, { what: "the failed debit reported: mandate pending, fallback asked" });
        assert.equal(row.fallback_installment_id, installmentId);
        assert.equal(row.paid_count, 0);
        assert.deepEqual(
          (await installments(caseId)).map(({ status, paid }) => ({ status, paid })),
          [{ status: "pending", paid: 0 }],
        );
        assert.equal((await casePayments(caseId)).filter((p) => p.credited).length, 0);
      },
    );

    await t.step(
      "the reconciliation opens the link at Razorpay and queues its reminder, once",
      async () => {
        await eventually(async () => {
          await reconcileNow();
          return (await mandateOf(caseId))?.fallback_reminded_at ?? false;
        }, { what: "the fallback link made and its reminder queued", timeoutMs: 30_000 });
        const links = await linksOf(caseId);
        assert.equal(links.length, 1, "one link");
        fallback = links[0] as typeof fallback;
        assert.deepEqual(
          [
            links[0].amount,
            links[0].accept_partial,
            links[0].status,
            links[0].outstanding_amount_id,
          ],
          [installment, false, "created", installmentId],
        );
        assert.equal((await mandateOf(caseId)).fallback_link_id, fallback.id);
        const reminders = (await caseMessages(caseId)).filter((m) =>
          m.template_code === "payment_link_reminder"
        );
        assert.equal(reminders.length, 1, "one reminder");
        const [reminder] = reminders;
        reminderId = reminder.id;
        assert.deepEqual([reminder.channel, reminder.purpose], ["email", "service"]);
        assert.equal(reminder.variables.amount_due, "₹2,500");
        assert.equal(await tapLink(reminder.variables.payment_link), fallback.short_url);
        assert.equal(reminder.deferred_reason, null, "the send hours are open");
        await messageReaches(reminder.id, "delivered");
        // The reconciliation again: no second link, no second reminder, one create at Razorpay.
        await reconcileNow();
        assert.equal((await linksOf(caseId)).length, 1);
        assert.equal(
          (await caseMessages(caseId)).filter((m) => m.template_code === "payment_link_reminder")
            .length,
          1,
        );
        assert.deepEqual(
          (await acceptedBy<RazorpayRequest>("razorpay", fallback.reference_id)).map((r) =>
            r.subject
          ),
          ["payment_link.create"],
        );
      },
    );

    await t.step(
      "part of it cannot go on that link: the agent opens a part-payment link",
      async () => {
        const partOnFallback = await refusedByRazorpay("pay", {
          paymentLinkId: fallback.razorpay_payment_link_id,
          amount: firstPart,
        });
        assert.equal(partOnFallback.status, 400, JSON.stringify(partOnFallback.body));
        // Below the product line's least first part (25 %): refused, nothing made.
        const tooSmall = await api(`/cases/${caseId}/payment-links`, {
          token: agent,
          method: "POST",
          body: {
            outstanding_amount_id: installmentId,
            accept_partial: true,
            first_min_partial_amount: 10000,
          },
        });
        await tooSmall.body?.cancel();
        assert.equal(tooSmall.status, 422);
        assert.equal((await linksOf(caseId)).length, 1);

        part = await json(
          await api(`/cases/${caseId}/payment-links`, {
            token: agent,
            method: "POST",
            body: { outstanding_amount_id: installmentId, accept_partial: true },
          }),
          201,
        );
        const links = await linksOf(caseId);
        assert.equal(links.length, 2);
        assert.deepEqual(
          [links[1].amount, links[1].accept_partial, links[1].status],
          [installment, true, "created"],
        );
        const [row] = await sql`
      select first_min_partial_amount::int as least from public.payment_links where id = ${part.id}`;
        assert.equal(row.least, installment / 4, "at least 25 % first");
      },
    );

    await t.step(
      "the customer pays part: the installment is part-paid, the case stays open",
      async () => {
        const belowLeast = await refusedByRazorpay("pay", {
          paymentLinkId: part.payment_link_id,
          amount: installment / 4 - 100,
        });
        assert.equal(belowLeast.status, 400, "less than the least first part");
        const first = await customerPays({
          paymentLinkId: part.payment_link_id,
          amount: firstPart,
        });
        assert.equal(first.outcome, "captured");
        paid.push(first.payment!.id);
        await eventually(async () => (await installments(caseId))[0].paid === firstPart, {
          what: "the part credited to the installment",
        });
        assert.deepEqual(
          (await installments(caseId)).map(({ status, paid }) => ({ status, paid })),
          [{ status: "pending", paid: firstPart }],
        );
        assert.equal((await caseOfPolicy(fed.policyId))?.stage, "new", "still open");
        const history = await json<{ outstanding: number }>(
          await api(`/cases/${caseId}/payment-history`, { token: agent }),
        );
        assert.equal(history.outstanding, installment - firstPart);
        const links = await linksOf(caseId);
        assert.deepEqual([links[1].status, links[1].amount_paid], ["partially_paid", firstPart]);
        const receipt = await eventually(
          async () =>
            (await caseMessages(caseId)).find((m) => m.idempotency_key === `receipt:${paid[0]}`),
          {
            what: "the part's receipt queued",
          },
        );
        assert.equal(receipt.variables.amount_paid, "₹1,000");
        await messageReaches(receipt.id, "delivered");
      },
    );

    await t.step(
      "the customer pays the rest: the installment is paid and the case renewed",
      async () => {
        const rest = await customerPays({ paymentLinkId: part.payment_link_id });
        assert.equal(rest.outcome, "captured");
        assert.equal(rest.payment!.amount, installment - firstPart, "the link asks for the rest");
        paid.push(rest.payment!.id);
        await eventually(async () => (await caseOfPolicy(fed.policyId))?.stage === "renewed", {
          what: "the case renewed",
        });
        assert.deepEqual(await stageChanges(caseId), ["renewed"]);
        assert.deepEqual(
          (await installments(caseId)).map(({ status, paid }) => ({ status, paid })),
          [{ status: "paid", paid: installment }],
        );
        const credited = (await casePayments(caseId)).filter((p) => p.credited);
        assert.deepEqual(
          credited.map((p) => [p.razorpay_payment_id, p.amount, p.review_reason]),
          [[paid[0], firstPart, null], [paid[1], installment - firstPart, null]],
        );
        const [allocated] = await sql`
      select count(*)::int as n, sum(a.amount)::int as paise
        from public.payment_allocations a join public.payments p on p.id = a.payment_id
       where p.case_id = ${caseId}`;
        assert.deepEqual({ ...allocated }, { n: 2, paise: installment });
        const receipt = await eventually(
          async () =>
            (await caseMessages(caseId)).find((m) => m.idempotency_key === `receipt:${paid[1]}`),
          {
            what: "the rest's receipt queued",
          },
        );
        assert.equal(receipt.variables.amount_paid, "₹1,500");
        await messageReaches(receipt.id, "delivered");
      },
    );

    await t.step(
      "nothing can be collected twice: the fallback link and the mandate are cancelled at Razorpay",
      async () => {
        await eventually(async () => {
          await reconcileNow();
          const m = await mandateOf(caseId);
          const fb = (await linksOf(caseId))[0];
          return m.status === "cancelled" && fb.status === "cancelled";
        }, {
          what: "the fallback link and the mandate cancelled (migration 20261130075904)",
          timeoutMs: 30_000,
        });
        assert.deepEqual(
          (await acceptedBy<RazorpayRequest>("razorpay", fallback.reference_id)).map((r) =>
            r.subject
          ),
          ["payment_link.create", "payment_link.cancel"],
        );
        const cancels = (await acceptedBy<RazorpayRequest>("razorpay", mandate.id)).filter((r) =>
          r.subject === "subscription.cancel"
        );
        assert.equal(cancels.length, 1);
        assert.equal(cancels[0].params.cancel_at_cycle_end, 0);
        // The customer cannot pay the old link any more, and Razorpay's schedule cannot debit.
        const late = await refusedByRazorpay("pay", {
          paymentLinkId: fallback.razorpay_payment_link_id,
        });
        assert.equal(late.status, 409, JSON.stringify(late.body));
        const debit = await refusedByRazorpay("subscriptions/charge", {
          subscriptionId: mandate.subscription_id,
        });
        assert.equal(debit.status, 409, JSON.stringify(debit.body));
        assert.equal((await casePayments(caseId)).filter((p) => p.credited).length, 2);

        // What the customer heard: the notice, the link reminder (delivered), a receipt per
        // payment; nothing else.
        const messages = await caseMessages(caseId);
        const reminder = messages.find((m) => m.id === reminderId)!;
        assert.ok(["delivered", "read"].includes(reminder.status), reminder.status);
        assert.deepEqual(
          messages.map((m) => m.template_code),
          [
            "autopay_pre_debit_notice",
            "payment_link_reminder",
            "payment_receipt",
            "payment_receipt",
          ],
        );
        const history = await json<{ outstanding: number; payment_links: { status: string }[] }>(
          await api(`/cases/${caseId}/payment-history`, { token: agent }),
        );
        assert.equal(history.outstanding, 0);
        assert.deepEqual(history.payment_links.map((l) => l.status).sort(), ["cancelled", "paid"]);
      },
    );
  },
);
