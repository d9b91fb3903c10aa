// Journey 1 (issue 14): a motor policy 60 days from expiry → case opened → WhatsApp reminder at
// −60 → delivered and read callbacks → payment link at −30 → the customer pays through the
// sandbox → signed webhook → case renewed → remaining reminders cancelled → receipt PDF
// delivered.
//
// Through the stack's public surfaces only: the insurer's feed and onboarding consents are
// loaded by SQL (set-up); pg_cron's part is played by calling its job functions with as_of; the
// desk's configuration (the business's approved WhatsApp templates, the ladder's −60 and −30
// steps pointed at them) and the agent's payment link go through the API; Meta's template
// approval, the customer's tap, payment and Razorpay's dashboard replay through the sandbox's
// control API; the worker sends, the sandbox calls back with signed webhooks.
//
// Time: expiry is IST today + 29, so the −60 step's as_of is a month ago and the −30 step's
// yesterday (11:00 IST), and the worker sends what they queue at once; the customer pays now.
// The send hours are held open for the journey (journey() in _stack.ts), so it runs alike at any
// hour. The ladder's next step (−15) lies two weeks ahead: its run is asked ahead of the real
// clock, at pg_cron's 06:15 IST of that day, and queues a reminder due then, which the worker
// cannot claim yet: it is still queued when the customer pays, and the payment must cancel it.
// The runs after the renewal (−1, +1) are asked ahead of their days too: they must make nothing
// for the case, so nothing waits for the worker.
import assert from "node:assert/strict";
import { shownText } from "../functions/_pdf_text.ts";
import {
  acceptedBy,
  addDays,
  adminSql,
  api,
  call,
  eventually,
  istTime,
  istToday,
  journey,
  json,
  messageDate,
  runCadence,
  runDailyJobs,
  sandboxControl,
  sandboxGet,
  tokenFor,
} from "./_stack.ts";
import {
  adminEmail,
  agentEmail,
  caseMessages,
  caseOfPolicy,
  casePayments,
  customerPays,
  DeskSettings,
  feedPolicy,
  installments,
  messageEvents,
  messageReaches,
  stageChanges,
  tapLink,
  type WhatsappRequest,
} from "./_payments_journeys.ts";

const premium = 1845000; // ₹18,450 a year, in paise: below the −15 call task's threshold

journey(
  "journey 1: a motor renewal reminded on WhatsApp, paid by link, renewed, receipt delivered",
  async (t) => {
    const sql = adminSql();
    const expiry = addDays(istToday(), 29);
    const day = (offset: number, time = "11:00") => istTime(addDays(expiry, offset), time);
    const admin = await tokenFor(adminEmail);
    const agent = await tokenFor(agentEmail);
    const desk = new DeskSettings(admin);

    const fed = await feedPolicy({
      productLine: "motor",
      premium,
      endDate: expiry,
      ncbPercent: 35,
      preferredChannel: "whatsapp",
    });
    const reminderCode = `e2e_renewal_due_${fed.tag.toLowerCase()}`;
    const payCode = `e2e_renewal_pay_${fed.tag.toLowerCase()}`;
    const reminderName = `py360_renewal_${fed.tag.toLowerCase()}`;
    const payName = `py360_renewal_pay_${fed.tag.toLowerCase()}`;
    let caseId = "";
    const sent: { reminder?: string; pay?: string; next?: string; receipt?: string } = {};
    let link = { id: "", payment_link_id: "", short_url: "", reference_id: "" };
    let paymentId = "";

    try {
      await t.step(
        "the desk registers its approved WhatsApp templates and sets the ladder",
        async () => {
          await desk.whatsappTemplate({
            code: reminderCode,
            whatsappName: reminderName,
            parameterCount: 3,
            body: "Dear {{customer_name}}, your motor policy {{policy_number}} expires on " +
              "{{expiry_date}}. Renew before then to stay covered.",
          });
          await desk.whatsappTemplate({
            code: payCode,
            whatsappName: payName,
            parameterCount: 5,
            body:
              "Dear {{customer_name}}, renew policy {{policy_number}} before {{expiry_date}}: " +
              "pay {{premium}} here: {{payment_link}}",
          });
          await desk.ladderStep("motor", -60, reminderCode);
          await desk.ladderStep("motor", -30, payCode);
        },
      );

      await t.step(
        "the daily jobs open the case 60 days before expiry, not a day sooner",
        async () => {
          await runDailyJobs(day(-61, "06:00"));
          assert.equal(await caseOfPolicy(fed.policyId), undefined, "61 days ahead: no case yet");
          await runDailyJobs(day(-60, "06:00"));
          const opened = await caseOfPolicy(fed.policyId);
          assert.ok(opened, "60 days ahead: the case is opened");
          caseId = opened.id;
          assert.equal(opened.stage, "new");
          assert.equal(opened.due_date, expiry);
          assert.equal(opened.assignee_id, opened.agent_id, "held by the policy's agent");
          assert.deepEqual(
            (await installments(caseId)).map(({ n, status, amount, paid }) => ({
              n,
              status,
              amount,
              paid,
            })),
            [{ n: 1, status: "pending", amount: premium, paid: 0 }],
          );
          // The daily jobs again the same day open nothing more.
          await runDailyJobs(day(-60, "07:00"));
          const [count] = await sql`
        select count(*)::int as n from public.renewal_cases where policy_id = ${fed.policyId}`;
          assert.equal(count.n, 1);
        },
      );

      await t.step("−60: one WhatsApp reminder, sent, then delivered and read", async () => {
        const outcome = await runCadence(day(-60));
        assert.ok((outcome.queued ?? 0) >= 1, JSON.stringify(outcome));
        const [message, ...more] = await caseMessages(caseId);
        assert.deepEqual(more, [], "one message for the case");
        sent.reminder = message.id;
        assert.deepEqual(
          [message.template_code, message.channel, message.purpose, message.choice_reason],
          [reminderCode, "whatsapp", "service", "preferred_channel"],
        );
        assert.equal(message.recipient, fed.phone);
        assert.equal(message.idempotency_key.startsWith(`cadence:${fed.policyId}:`), true);
        assert.equal(message.variables.payment_link, undefined, "no link exists yet");
        const read = await messageReaches(message.id, "read");
        assert.ok(read.sent_at && read.delivered_at && read.read_at, "each step stamped");
        assert.deepEqual(await messageEvents(message.id), ["sent", "delivered", "read"]);
        const [request, ...again] = await acceptedBy<WhatsappRequest>("whatsapp_cloud", message.id);
        assert.deepEqual(again, [], "sent to Meta once");
        assert.equal(request.id, read.provider_message_id);
        assert.equal(request.to, fed.phone.replace("+", ""));
        assert.equal(request.params.template?.name, reminderName);
        assert.deepEqual(
          request.params.template?.components?.find((c) => c.type === "body")?.parameters
            .map((p) => p.text),
          [fed.customerName, fed.policyNumber, messageDate(expiry)],
        );
      });

      await t.step("the next days' runs send nothing twice", async () => {
        await runCadence(day(-60));
        await runCadence(day(-59));
        const messages = await caseMessages(caseId);
        assert.deepEqual(messages.map((m) => m.id), [sent.reminder]);
        assert.equal(
          (await acceptedBy<WhatsappRequest>("whatsapp_cloud", sent.reminder!)).length,
          1,
        );
      });

      await t.step(
        "−30: the agent opens a payment link; the reminder carries it, tracked",
        async () => {
          // Another agent cannot open one for this case, and makes nothing.
          const refused = await api(`/cases/${caseId}/payment-links`, {
            token: await tokenFor("gopal.agent@py360.test"),
            method: "POST",
            body: {},
          });
          await refused.body?.cancel();
          assert.equal(refused.status, 404);
          link = await json(
            await api(`/cases/${caseId}/payment-links`, { token: agent, method: "POST", body: {} }),
            201,
          );
          assert.match(link.payment_link_id, /^plink_/);
          assert.match(link.short_url, /^https:\/\//);
          const [row] = await sql`
        select count(*)::int as n, min(amount)::int as amount, bool_or(accept_partial) as partial
          from public.payment_links where case_id = ${caseId}`;
          assert.deepEqual({ ...row }, { n: 1, amount: premium, partial: false });

          const outcome = await runCadence(day(-30));
          assert.ok((outcome.queued ?? 0) >= 1, JSON.stringify(outcome));
          const messages = await caseMessages(caseId);
          assert.equal(messages.length, 2);
          const pay = messages[1];
          sent.pay = pay.id;
          assert.deepEqual([pay.template_code, pay.channel], [payCode, "whatsapp"]);
          assert.notEqual(pay.idempotency_key, messages[0].idempotency_key, "another step's key");
          // {{payment_link}} is our tracked redirect to Razorpay's link, not the link itself.
          const [tracked] = await sql`
        select target_url, click_count from public.tracked_links
         where case_id = ${caseId} and code = ${pay.variables.payment_link.replace(/^.*\//, "")}`;
          assert.deepEqual({ ...tracked }, { target_url: link.short_url, click_count: 0 });
          assert.equal(pay.variables.premium, "₹18,450");
          await messageReaches(pay.id, "read");
          assert.deepEqual(await messageEvents(pay.id), ["sent", "delivered", "read"]);
          const [request, ...again] = await acceptedBy<WhatsappRequest>("whatsapp_cloud", pay.id);
          assert.deepEqual(again, []);
          assert.equal(request.params.template?.name, payName);
          assert.deepEqual(
            request.params.template?.components?.find((c) => c.type === "body")?.parameters
              .map((p) => p.text),
            [
              fed.customerName,
              fed.policyNumber,
              messageDate(expiry),
              "₹18,450",
              pay.variables.payment_link,
            ],
          );
        },
      );

      await t.step(
        "−15: the next reminder is queued for its day, two weeks ahead, and waits",
        async () => {
          const at = day(-15, "06:15"); // pg_cron's 00:45 UTC that day, two weeks from now
          assert.ok(at.getTime() > Date.now() + 7 * 86_400_000, "the −15 day is ahead of now");
          await runCadence(at);
          const next = (await caseMessages(caseId)).filter((m) =>
            ![sent.reminder, sent.pay].includes(m.id)
          );
          assert.equal(next.length, 1, JSON.stringify(next));
          sent.next = next[0].id;
          // Due at its run, ahead of the real clock: the worker cannot claim it before then.
          assert.equal(next[0].status, "queued");
          assert.equal(next[0].deferred_reason, null, "the send hours are open");
          assert.equal(next[0].next_attempt_at.getTime(), at.getTime());
          assert.equal(next[0].sent_at, null);
          const [tasks] =
            await sql`select count(*)::int as n from public.tasks where case_id = ${caseId}`;
          assert.equal(tasks.n, 0, "no call task: the premium is under the threshold");
        },
      );

      await t.step(
        "the customer taps the link and pays through the sandbox; the signed webhook renews the case",
        async () => {
          const pay = (await caseMessages(caseId)).find((m) => m.id === sent.pay)!;
          assert.equal(await tapLink(pay.variables.payment_link), link.short_url);
          const [clicks] = await sql`
        select count(*)::int as n from public.link_clicks where case_id = ${caseId}`;
          assert.equal(clicks.n, 1, "the tap is counted once");

          // A "paid" webhook that Razorpay did not sign is refused and renews nothing.
          const forgedId = `evt_forged_${fed.tag}`;
          const forged = await call("webhooks/razorpay", {
            method: "POST",
            headers: { "x-razorpay-event-id": forgedId, "x-razorpay-signature": "0".repeat(64) },
            body: {
              entity: "event",
              event: "payment_link.paid",
              created_at: Math.floor(Date.now() / 1000),
              payload: {
                payment_link: {
                  entity: { id: link.payment_link_id, status: "paid", amount_paid: premium },
                },
                payment: {
                  entity: { id: `pay_Forged${fed.tag}`, amount: premium, status: "captured" },
                },
              },
            },
          });
          await forged.body?.cancel();
          assert.equal(forged.status, 401);
          const [kept] = await sql`
            select count(*)::int as n from public.payment_events where event_id = ${forgedId}`;
          assert.equal(kept.n, 0, "nothing stored");
          assert.equal((await caseOfPolicy(fed.policyId))?.stage, "new");
          assert.deepEqual(await casePayments(caseId), []);

          const paid = await customerPays({ paymentLinkId: link.payment_link_id });
          assert.equal(paid.outcome, "captured");
          paymentId = paid.payment!.id;
          assert.equal(paid.payment!.amount, premium);
          await eventually(async () => (await caseOfPolicy(fed.policyId))?.stage === "renewed", {
            what: "the case renewed by the webhook",
          });
          assert.deepEqual(await casePayments(caseId), [{
            razorpay_payment_id: paymentId,
            amount: premium,
            status: "captured",
            credited: true,
            review_reason: null,
            payment_link_id: link.payment_link_id,
          }]);
          assert.deepEqual(
            (await installments(caseId)).map(({ status, paid }) => ({ status, paid })),
            [{ status: "paid", paid: premium }],
          );
          const [linkRow] = await sql`
        select status, amount_paid::int from public.payment_links where id = ${link.id}`;
          assert.deepEqual({ ...linkRow }, { status: "paid", amount_paid: premium });
          assert.deepEqual(await stageChanges(caseId), ["renewed"]);

          // Every event the payment made was delivered signed and taken once: stored under its id.
          await eventually(async () => {
            const rows = await sql`
          select count(*)::int as n from public.payment_events
           where event_id in ${sql(paid.events.map((e) => e.id))}`;
            return rows[0].n === paid.events.length;
          }, { what: "every event of the payment stored" });
          const events = await sql`
        select event_type, status, signed_with, note from public.payment_events
         where event_id in ${sql(paid.events.map((e) => e.id))} order by event_type`;
          assert.ok(events.every((e) => e.signed_with === "current"), JSON.stringify(events));
          // payment_link.paid credits the payment; the payment's own events come first and name
          // only the link's order, which we learn from payment_link.paid: kept as unmatched, and
          // none credits anything.
          assert.deepEqual(events.map((e) => [e.event_type, e.status, e.note]), [
            ["order.paid", "unmatched", "unmatched"],
            ["payment.authorized", "unmatched", "unmatched"],
            ["payment.captured", "unmatched", "unmatched"],
            ["payment_link.paid", "applied", "credited"],
          ]);
          for (const event of paid.events) {
            const deliveries = await sandboxGet<{ status: number }[]>(
              `_inspect/razorpay/deliveries?eventId=${event.id}`,
            );
            assert.deepEqual(
              deliveries.map((d) => d.status),
              [200],
              `${event.event} taken at once`,
            );
          }
        },
      );

      await t.step(
        "the remaining reminders are cancelled, and the ladder sends nothing after the renewal",
        async () => {
          const next = (await caseMessages(caseId)).find((m) => m.id === sent.next)!;
          assert.equal(next.status, "cancelled");
          assert.ok(next.cancelled_at, "cancelled when the case closed");
          assert.equal(next.sent_at, null);
          assert.equal(next.provider_message_id, null, "never handed to a vendor");
          const before = (await caseMessages(caseId)).map((m) => m.id);
          for (const offset of [-1, 1]) await runCadence(day(offset, "06:15"));
          assert.deepEqual((await caseMessages(caseId)).map((m) => m.id), before, "nothing new");
          const [tasks] =
            await sql`select count(*)::int as n from public.tasks where case_id = ${caseId}`;
          assert.equal(tasks.n, 0);
        },
      );

      await t.step(
        "the receipt: a PDF rendered and stored once, delivered on WhatsApp and read",
        async () => {
          const receipt = await eventually(
            async () =>
              (await caseMessages(caseId)).find((m) =>
                m.idempotency_key === `receipt:${paymentId}`
              ),
            {
              what: "the receipt queued",
            },
          );
          sent.receipt = receipt.id;
          assert.deepEqual(
            [receipt.template_code, receipt.channel, receipt.purpose],
            ["payment_receipt", "whatsapp", "transactional"],
          );
          assert.equal(receipt.variables.amount_paid, "₹18,450");
          assert.ok(receipt.document_id, "the receipt carries its document");
          await messageReaches(receipt.id, "read");
          assert.deepEqual(await messageEvents(receipt.id), ["sent", "delivered", "read"]);
          const [document] = await sql`
        select d.kind::text, d.status, d.size_bytes::int, d.content_type,
               p.razorpay_payment_id
          from public.documents d join public.payments p on p.id = d.payment_id
         where d.id = ${receipt.document_id}`;
          assert.deepEqual(
            { ...document, size_bytes: document.size_bytes > 0 },
            {
              kind: "receipt",
              status: "stored",
              size_bytes: true,
              content_type: "application/pdf",
              razorpay_payment_id: paymentId,
            },
          );
          // WhatsApp got it as the template's document header; the sandbox downloaded it, as Meta
          // does, before reporting it delivered.
          const [request, ...again] = await acceptedBy<WhatsappRequest>(
            "whatsapp_cloud",
            receipt.id,
          );
          assert.deepEqual(again, []);
          assert.equal(request.params.template?.name, "payment_receipt");
          const header = request.params.template?.components?.find((c) => c.type === "header");
          const attached = header?.parameters[0] as {
            type: string;
            document: { filename: string };
          };
          assert.equal(attached.type, "document");
          assert.match(attached.document.filename, /\.pdf$/);
          // The desk opens the same document: a PDF that states the payment.
          const { url } = await json<{ url: string }>(
            await api(`/documents/${receipt.document_id}/url`, { token: agent }),
          );
          const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
          assert.equal(new TextDecoder().decode(bytes.slice(0, 5)), "%PDF-");
          assert.equal(bytes.length, document.size_bytes);
          const text = await shownText(bytes);
          assert.match(text, new RegExp(paymentId));
          assert.match(text, /Rs\. 18,450\.00/);
          assert.match(text, new RegExp(fed.policyNumber));
        },
      );

      await t.step(
        "Razorpay replays the payment's webhook: nothing changes, nothing is sent twice",
        async () => {
          const [captured] = await sql`
        select event_id from public.payment_events
         where event_type = 'payment_link.paid'
           and payload #>> '{payload,payment,entity,id}' = ${paymentId}`;
          assert.ok(captured, "the payment_link.paid event is stored");
          await sandboxControl("razorpay/replay", { eventId: captured.event_id });
          await eventually(async () => {
            const deliveries = await sandboxGet<{ status: number }[]>(
              `_inspect/razorpay/deliveries?eventId=${captured.event_id}`,
            );
            return deliveries.length === 2 && deliveries.every((d) => d.status === 200);
          }, { what: "the replay delivered and answered 200" });
          const [stored] = await sql`
        select count(*)::int as n from public.payment_events where event_id = ${captured.event_id}`;
          assert.equal(stored.n, 1, "the replayed event is stored once");
          assert.equal((await casePayments(caseId)).filter((p) => p.credited).length, 1);
          const [allocated] = await sql`
        select count(*)::int as n, sum(a.amount)::int as paise
          from public.payment_allocations a join public.payments p on p.id = a.payment_id
         where p.case_id = ${caseId}`;
          assert.deepEqual({ ...allocated }, { n: 1, paise: premium });
          const messages = await caseMessages(caseId);
          assert.deepEqual(
            messages.map((m) => [m.id, m.status]),
            [
              [sent.reminder, "read"],
              [sent.pay, "read"],
              [sent.next, "cancelled"],
              [sent.receipt, "read"],
            ],
            "the case's whole correspondence",
          );
          // What the customer's phone got from us on WhatsApp, all told: three messages.
          const all = await acceptedBy("whatsapp_cloud");
          assert.deepEqual(
            all.filter((r) => r.to === fed.phone.replace("+", "")).map((r) => r.ourId),
            [sent.reminder, sent.pay, sent.receipt],
          );
        },
      );
    } finally {
      await desk.restore();
    }
  },
);
