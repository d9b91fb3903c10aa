// Journey 2: the channel a reminder takes when the first choice cannot carry it. Two Punjabi-
// speaking motor customers, neither opted in to WhatsApp:
// - Amrit: at −60 the ladder's WhatsApp step is refused (not opted in) and the reminder goes by
//   SMS through Twilio, from the DLT header with the registered text; at −30 Twilio is down: the
//   retries run out and AWS SNS delivers the same text with the same DLT entity and template ids;
//   Twilio's breaker opens, and closes again when Twilio is back and a probe gets through.
// - Balwinder prefers email, at an address that hard-bounces: the −60 email bounces (SES's
//   signed notification through SNS), the address is suppressed, a desk email to it is blocked,
//   and the −30 step goes by SMS.
// Each reminder reaches exactly one vendor once, and replaying the day sends nothing again.
// Timeline in the past (expiries today + 28 / + 29: −60 is a month ago, −30 the last two days).
import assert from "node:assert/strict";
import {
  addDays,
  adminSql,
  api,
  eventually,
  istToday,
  journey,
  json,
  sandboxControl,
  tokenFor,
} from "./_stack.ts";
import {
  type Accepted,
  acceptedFor,
  acceptedTo,
  caseOf,
  fillsDltText,
  freshTag,
  holdSettings,
  journeyLanguage,
  messagesOf,
  onboard,
  openServiceHours,
  punjabiLadder,
  runCadence,
  runDailyJobs,
  snsAttribute,
  stepAsOf,
  stepMessage,
  waitStatus,
} from "./_channel_journeys.ts";

const agentEmail = "arjun.agent@py360.test";

journey(
  "journey 2: no WhatsApp opt-in → SMS; Twilio down → SNS, same DLT ids; bounce → SMS",
  async (t) => {
    const adminToken = await tokenFor("admin@py360.test");
    const agentToken = await tokenFor(agentEmail);
    const restoreHours = await openServiceHours();
    const ladder = await punjabiLadder(adminToken);
    const sql = adminSql();
    try {
      const today = istToday();
      const amrit = await onboard({
        label: "Amrit Journey",
        agentEmail,
        endDate: addDays(today, 29),
        consents: [["sms", "service"], ["email", "service"]],
      });
      const balwinder = await onboard({
        label: "Balwinder Journey",
        agentEmail,
        endDate: addDays(today, 28),
        email: `bounce+${freshTag().toLowerCase()}@example.in`,
        preferredChannel: "email",
        consents: [["sms", "service"], ["email", "service"]],
      });
      const cases: Record<string, string> = {};
      const sentIds: string[] = [];

      await t.step(
        "−60: the daily jobs open both cases, due on the policies' last day",
        async () => {
          await runDailyJobs(stepAsOf(balwinder.endDate, -60));
          await runDailyJobs(stepAsOf(amrit.endDate, -60));
          for (const [name, customer] of [["amrit", amrit], ["balwinder", balwinder]] as const) {
            const found = await caseOf(customer.policyId);
            assert.ok(found, `${name}'s case is open`);
            assert.deepEqual([found.stage, found.due_date, found.assignee_email], [
              "new",
              customer.endDate,
              agentEmail,
            ]);
            cases[name] = found.id;
          }
        },
      );

      await t.step(
        "−60, Amrit: WhatsApp refused (no opt-in), the reminder goes by SMS through Twilio",
        async () => {
          await runCadence(stepAsOf(amrit.endDate, -60));
          const message = await stepMessage(amrit.customerId, cases.amrit, -60);
          assert.ok(message, "the −60 reminder is queued");
          assert.deepEqual(
            [message.channel, message.purpose, message.template_code, message.template_language],
            ["sms", "service", "renewal_due", journeyLanguage],
          );
          assert.equal(message.choice_reason, "first_allowed (whatsapp: whatsapp_not_opted_in)");
          assert.equal(message.recipient, amrit.phone);
          const delivered = await waitStatus(
            amrit.customerId,
            message.id,
            ["delivered"],
            "Amrit −60",
          );
          assert.equal(delivered.provider, "twilio");
          const [sent] = await acceptedFor("twilio", message.id).then((r) => {
            assert.equal(r.length, 1, "Twilio accepted it once");
            return r;
          });
          assert.equal(sent.to, amrit.phone);
          // Twilio takes no DLT ids per message (they are registered with it in advance): the
          // sender is the DLT header, and the text a fill of the registered DLT text.
          assert.equal(sent.params.From, ladder.sms.dlt_header);
          assert.ok(
            fillsDltText(String(sent.params.Body), ladder.sms.dlt_text!),
            String(sent.params.Body),
          );
          assert.ok(String(sent.params.Body).includes(amrit.policyNumber));
          assert.equal((await acceptedTo("whatsapp_cloud", amrit.phone)).length, 0, "no WhatsApp");
          sentIds.push(message.id);
        },
      );

      await t.step(
        "−60, Balwinder: the preferred email hard-bounces; the address is suppressed",
        async () => {
          await runCadence(stepAsOf(balwinder.endDate, -60));
          const message = await stepMessage(balwinder.customerId, cases.balwinder, -60);
          assert.ok(message, "the −60 reminder is queued");
          assert.deepEqual([message.channel, message.choice_reason, message.recipient], [
            "email",
            "preferred_channel",
            balwinder.email,
          ]);
          const bounced = await waitStatus(
            balwinder.customerId,
            message.id,
            ["undeliverable"],
            "Balwinder's −60 email bounced",
          );
          assert.equal(bounced.provider, "aws_ses");
          assert.equal(
            (await acceptedFor("aws_ses", message.id)).length,
            1,
            "SES accepted it once",
          );
          const suppressions = await sql`
        select reason, message_id from public.suppressions
         where channel = 'email' and address = ${balwinder.email}`;
          assert.deepEqual(suppressions.map((s) => [s.reason, s.message_id]), [
            ["hard_bounce", message.id],
          ]);
          sentIds.push(message.id);
        },
      );

      await t.step(
        "a desk email to the bounced address is blocked, and never reaches a vendor",
        async () => {
          const result = await json<{ status: string; blocked_reason: string | null }>(
            await api("/messages", {
              token: agentToken,
              method: "POST",
              headers: { "idempotency-key": `journey2-${balwinder.customerId}` },
              body: {
                customer_id: balwinder.customerId,
                case_id: cases.balwinder,
                channel: "email",
                purpose: "service",
                subject: "Your renewal",
                body: "Please call me about your renewal.",
              },
            }),
            201,
          );
          assert.deepEqual([result.status, result.blocked_reason], ["blocked", "suppressed"]);
        },
      );

      await t.step(
        "−30, Balwinder: the bounced email is skipped, the step goes by SMS",
        async () => {
          await runDailyJobs(stepAsOf(balwinder.endDate, -30));
          await runCadence(stepAsOf(balwinder.endDate, -30));
          const message = await stepMessage(balwinder.customerId, cases.balwinder, -30);
          assert.ok(message, "the −30 reminder is queued");
          assert.deepEqual([message.channel, message.purpose, message.recipient], [
            "sms",
            "service",
            balwinder.phone,
          ]);
          assert.equal(
            message.choice_reason,
            "first_allowed (email: recent_undeliverable, whatsapp: whatsapp_not_opted_in)",
          );
          const delivered = await waitStatus(
            balwinder.customerId,
            message.id,
            ["delivered"],
            "Balwinder −30",
          );
          assert.equal(delivered.provider, "twilio");
          assert.equal((await acceptedFor("twilio", message.id)).length, 1);
          assert.equal(
            (await acceptedTo("aws_ses", balwinder.email)).length +
              (await acceptedTo("sendgrid", balwinder.email)).length,
            1,
            "the suppressed address got nothing after the bounce",
          );
          sentIds.push(message.id);
        },
      );

      await t.step(
        "−30, Amrit, Twilio down: AWS SNS delivers the same text with the same DLT ids",
        async () => {
          // The operator's retry and breaker settings, short for the journey: two tries on Twilio,
          // a breaker that opens after two failures and waits two seconds before its probe.
          const restoreDispatch = await holdSettings({
            MESSAGE_RETRY: { max_attempts: 2, base_seconds: 0.2, max_seconds: 0.5 },
            PROVIDER_BREAKER: { failures: 2, open_seconds: 2 },
          });
          const outageStart = new Date();
          await sandboxControl("twilio", { outage: true });
          try {
            await runDailyJobs(stepAsOf(amrit.endDate, -30));
            await runCadence(stepAsOf(amrit.endDate, -30));
            const message = await stepMessage(amrit.customerId, cases.amrit, -30);
            assert.ok(message, "the −30 reminder is queued");
            assert.deepEqual([message.channel, message.template_code, message.choice_reason], [
              "sms",
              "renewal_due",
              "first_allowed (whatsapp: whatsapp_not_opted_in)",
            ]);
            const sent = await waitStatus(
              amrit.customerId,
              message.id,
              ["sent", "delivered"],
              "Amrit −30",
            );
            assert.equal(sent.provider, "aws_sns");
            assert.equal(
              (await acceptedFor("twilio", message.id)).length,
              0,
              "Twilio took nothing",
            );
            const viaSns: Accepted[] = await acceptedFor("aws_sns", message.id);
            assert.equal(viaSns.length, 1, "SNS accepted it once");
            assert.equal(viaSns[0].to, amrit.phone);
            assert.equal(viaSns[0].body, message.body);
            assert.ok(fillsDltText(message.body, ladder.sms.dlt_text!), message.body);
            assert.deepEqual(
              ["AWS.MM.SMS.EntityId", "AWS.MM.SMS.TemplateId", "AWS.SNS.SMS.SenderID"].map((name) =>
                snsAttribute(viaSns[0], name)
              ),
              [ladder.sms.dlt_entity_id, ladder.sms.dlt_template_id, ladder.sms.dlt_header],
            );
            const [breaker] = await sql`
          select breaker from public.provider_state where provider = 'twilio'`;
            assert.equal(breaker.breaker, "open", "Twilio's breaker opened");
            sentIds.push(message.id);

            // Twilio back: after the breaker's pause, a desk SMS is the probe that closes it.
            await sandboxControl("twilio", { outage: false });
            const [opened] = await sql`
          select breaker_since from public.provider_state where provider = 'twilio'`;
            const waitMs = new Date(opened.breaker_since).getTime() + 2_500 - Date.now();
            if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
            const probe = await json<{ message_id: string; status: string }>(
              await api("/messages", {
                token: agentToken,
                method: "POST",
                headers: { "idempotency-key": `journey2-probe-${amrit.customerId}` },
                body: {
                  customer_id: amrit.customerId,
                  case_id: cases.amrit,
                  channel: "sms",
                  template_code: "renewal_due",
                  variables: {
                    customer_name: amrit.customerName,
                    policy_number: amrit.policyNumber,
                    expiry_date: amrit.endDate,
                  },
                },
              }),
              201,
            );
            assert.equal(probe.status, "queued");
            const probed = await waitStatus(
              amrit.customerId,
              probe.message_id,
              ["delivered"],
              "the probe",
            );
            assert.equal(probed.provider, "twilio");
            const closed = await eventually(async () => {
              const [state] =
                await sql`select breaker from public.provider_state where provider = 'twilio'`;
              return state.breaker === "closed" && state;
            }, { what: "Twilio's breaker closed" });
            assert.equal(closed.breaker, "closed");
            const events = await sql`
          select breaker from public.provider_breaker_events
           where provider = 'twilio' and at >= ${outageStart} order by at, id`;
            assert.deepEqual(events.map((e) => e.breaker).slice(-3), [
              "open",
              "half_open",
              "closed",
            ]);
            sentIds.push(probe.message_id);
          } finally {
            await sandboxControl("twilio", { outage: false });
            await restoreDispatch();
          }
        },
      );

      await t.step(
        "nothing twice: a replayed day queues nothing, each reminder reached one vendor once",
        async () => {
          const before = [
            ...(await messagesOf(amrit.customerId)),
            ...(await messagesOf(balwinder.customerId)),
          ].map((m) => m.id).sort();
          await runCadence(stepAsOf(amrit.endDate, -30));
          const after = [
            ...(await messagesOf(amrit.customerId)),
            ...(await messagesOf(balwinder.customerId)),
          ].map((m) => m.id).sort();
          assert.deepEqual(after, before, "the replay queued nothing new");
          // The four reminders and the probe (the blocked desk email never left).
          assert.equal(sentIds.length, 5);
          for (const id of sentIds) {
            let received = 0;
            for (const vendor of ["twilio", "aws_sns", "aws_ses", "sendgrid", "whatsapp_cloud"]) {
              received += (await acceptedFor(vendor, id)).length;
            }
            assert.equal(received, 1, `message ${id} reached one vendor once`);
          }
          const all = await messagesOf(amrit.customerId);
          assert.deepEqual(
            all.map((m) => [m.channel, m.status, m.provider]),
            [["sms", "delivered", "twilio"], ["sms", "sent", "aws_sns"], [
              "sms",
              "delivered",
              "twilio",
            ]],
          );
        },
      );
    } finally {
      await ladder.restore();
      await restoreHours();
    }
  },
);
