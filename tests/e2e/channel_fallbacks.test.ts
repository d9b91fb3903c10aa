// Journey 2: the channel a reminder takes when the first choice cannot carry it. Two Punjabi-
// speaking motor customers, neither opted in to WhatsApp, policies ending in 29 days:
// - −60 (a month ago): the ladder's WhatsApp step is refused for both (not opted in). Amrit's
//   reminder goes by SMS through Twilio, from the DLT header with the registered text.
//   Balwinder prefers email, at an address that hard-bounces: SES's signed bounce notification
//   (through SNS) makes it undeliverable and suppresses the address; a desk email to it is
//   blocked.
// - −30 (yesterday), Twilio down: both reminders go by SMS, Balwinder's because her bounced email
//   is skipped. Twilio's retries run out and AWS SNS delivers the same text with the same DLT
//   entity and template ids; Twilio's breaker opens, and closes when Twilio is back and a probe
//   gets through.
// Each message reaches exactly one vendor once, and replaying the day sends nothing again.
import assert from "node:assert/strict";
import {
  acceptedBy,
  addDays,
  adminSql,
  api,
  eventually,
  holdProviderRates,
  holdSettings,
  istToday,
  journey,
  json,
  ordinaryVendorDay,
  type OutboxRow,
  runCadence,
  runDailyJobs,
  sandboxControl,
  tokenFor,
} from "./_stack.ts";
import { freshTag } from "./_book.ts";
import {
  acceptedTo,
  caseOf,
  fillsDltText,
  journeyLanguage,
  messagesOf,
  onboard,
  type Onboarded,
  punjabiLadder,
  snsAttribute,
  stepAsOf,
  stepMessage,
  waitMs,
  waitStatus,
} from "./_channel_journeys.ts";

const agentEmail = "arjun.agent@py360.test";

journey(
  "journey 2: no WhatsApp opt-in → SMS; Twilio down → SNS, same DLT ids; bounce → SMS",
  async (t) => {
    const adminToken = await tokenFor("admin@py360.test");
    const agentToken = await tokenFor(agentEmail);
    await ordinaryVendorDay();
    const restoreRates = await holdProviderRates();
    const ladder = await punjabiLadder(adminToken);
    const sql = adminSql();
    try {
      const endDate = addDays(istToday(), 29);
      const amrit = await onboard({
        label: "Amrit Journey",
        agentEmail,
        endDate,
        consents: [["sms", "service"], ["email", "service"]],
      });
      const balwinder = await onboard({
        label: "Balwinder Journey",
        agentEmail,
        endDate,
        email: `bounce+${freshTag().toLowerCase()}@example.in`,
        preferredChannel: "email",
        consents: [["sms", "service"], ["email", "service"]],
      });
      const cases: Record<string, string> = {};
      /** Every message that left for a vendor: each must have reached exactly one, once. */
      const sentIds: string[] = [];

      /** The text Twilio or SNS received: a fill of the registered DLT text, naming the policy. */
      const assertRegisteredText = (text: string, customer: Onboarded) => {
        assert.ok(fillsDltText(text, ladder.sms.dlt_text!), text);
        assert.ok(text.includes(customer.policyNumber), text);
      };

      await t.step(
        "−60: the daily jobs open both cases, due on the policies' last day",
        async () => {
          await runDailyJobs(stepAsOf(endDate, -60));
          for (const [name, customer] of [["amrit", amrit], ["balwinder", balwinder]] as const) {
            const found = await caseOf(customer.policyId);
            assert.ok(found, `${name}'s case is open`);
            assert.deepEqual([found.stage, found.due_date, found.assignee_email], [
              "new",
              endDate,
              agentEmail,
            ]);
            cases[name] = found.id;
          }
        },
      );

      await t.step(
        "−60, Amrit: WhatsApp refused (no opt-in), the reminder goes by SMS through Twilio",
        async () => {
          await runCadence(stepAsOf(endDate, -60));
          const message = await stepMessage(amrit.customerId, cases.amrit, -60);
          assert.ok(message, "the −60 reminder is queued");
          assert.deepEqual(
            [message.channel, message.purpose, message.template_code, message.template_language],
            ["sms", "service", "renewal_due", journeyLanguage],
          );
          assert.equal(message.choice_reason, "first_allowed (whatsapp: whatsapp_not_opted_in)");
          assert.equal(message.recipient, amrit.phone);
          const delivered = await waitStatus(amrit.customerId, message.id, ["delivered"], "−60");
          assert.equal(delivered.provider, "twilio");
          const accepted = await acceptedBy("twilio", message.id);
          assert.equal(accepted.length, 1, "Twilio accepted it once");
          assert.equal(accepted[0].to, amrit.phone);
          // Twilio takes no DLT ids with a message (they are registered with it in advance):
          // the sender is the DLT header, the text a fill of the registered DLT text.
          assert.equal(accepted[0].params.From, ladder.sms.dlt_header);
          assertRegisteredText(String(accepted[0].params.Body), amrit);
          assert.equal((await acceptedTo("whatsapp_cloud", amrit.phone)).length, 0, "no WhatsApp");
          sentIds.push(message.id);
        },
      );

      await t.step(
        "−60, Balwinder: the preferred email hard-bounces, and the address is suppressed",
        async () => {
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
            "the −60 email bounced",
          );
          const vendor = bounced.provider!;
          assert.ok(["aws_ses", "sendgrid"].includes(vendor), vendor);
          assert.equal((await acceptedBy(vendor, message.id)).length, 1, "accepted once");
          const suppressions = await sql`
            select reason, message_id from public.suppressions
             where channel = 'email' and address = ${balwinder.email}`;
          assert.deepEqual(suppressions.map((s) => [s.reason, s.message_id]), [
            ["hard_bounce", message.id],
          ]);
          sentIds.push(message.id);
        },
      );

      await t.step("a desk email to the bounced address is blocked (suppressed)", async () => {
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
      });

      const thirty: Record<string, OutboxRow> = {};
      await t.step(
        "−30, Twilio down: AWS SNS delivers both reminders with the same DLT ids",
        async () => {
          // The operator's retry and breaker settings, short for the journey: two tries on
          // Twilio, a breaker that opens after two failures and pauses two seconds.
          const restoreDispatch = await holdSettings({
            MESSAGE_RETRY: { max_attempts: 2, base_seconds: 0.2, max_seconds: 0.5 },
            PROVIDER_BREAKER: { failures: 2, open_seconds: 2 },
          });
          const outageStart = new Date();
          await sandboxControl("twilio", { outage: true });
          try {
            await runDailyJobs(stepAsOf(endDate, -30));
            await runCadence(stepAsOf(endDate, -30));
            const amritsReminder = await stepMessage(amrit.customerId, cases.amrit, -30);
            const balwindersReminder = await stepMessage(
              balwinder.customerId,
              cases.balwinder,
              -30,
            );
            assert.ok(amritsReminder && balwindersReminder, "both −30 reminders are queued");
            thirty.amrit = amritsReminder;
            thirty.balwinder = balwindersReminder;
            assert.deepEqual(
              [amritsReminder.channel, amritsReminder.template_code, amritsReminder.choice_reason],
              ["sms", "renewal_due", "first_allowed (whatsapp: whatsapp_not_opted_in)"],
            );
            // Balwinder: her bounced email skipped, the step goes by SMS.
            assert.deepEqual(
              [balwindersReminder.channel, balwindersReminder.recipient],
              ["sms", balwinder.phone],
            );
            assert.equal(
              balwindersReminder.choice_reason,
              "first_allowed (email: recent_undeliverable, whatsapp: whatsapp_not_opted_in)",
            );
            for (const [name, customer] of [["amrit", amrit], ["balwinder", balwinder]] as const) {
              const message = thirty[name];
              const sent = await waitStatus(customer.customerId, message.id, ["sent"], name);
              assert.equal(sent.provider, "aws_sns", `${name}: the fallback carried it`);
              assert.equal((await acceptedBy("twilio", message.id)).length, 0, "Twilio: none");
              const viaSns = await acceptedBy("aws_sns", message.id);
              assert.equal(viaSns.length, 1, `${name}: SNS accepted it once`);
              assert.equal(viaSns[0].to, customer.phone);
              assert.equal(viaSns[0].body, message.body);
              assertRegisteredText(message.body, customer);
              assert.deepEqual(
                ["AWS.MM.SMS.EntityId", "AWS.MM.SMS.TemplateId", "AWS.SNS.SMS.SenderID"].map(
                  (name) => snsAttribute(viaSns[0], name),
                ),
                [ladder.sms.dlt_entity_id, ladder.sms.dlt_template_id, ladder.sms.dlt_header],
              );
              sentIds.push(message.id);
            }
            const [opened] = await sql`
              select count(*)::int as n from public.provider_breaker_events
               where provider = 'twilio' and breaker = 'open' and at >= ${outageStart}`;
            assert.ok(opened.n >= 1, "Twilio's breaker opened");
            // Nothing went to the suppressed address.
            assert.equal(
              (await acceptedTo("aws_ses", balwinder.email)).length +
                (await acceptedTo("sendgrid", balwinder.email)).length,
              1,
              "the bounced address got the −60 email only",
            );

            // Twilio back: after the breaker's pause a probe closes it, and SMS go by Twilio again.
            await sandboxControl("twilio", { outage: false });
            // The probe goes once the breaker has closed (another message probed) or is open
            // past its pause (then the probe is ours); not while a probe is out or in the pause.
            await eventually(async () => {
              const [state] = await sql`
                select breaker, breaker_since from public.provider_state where provider = 'twilio'`;
              return state.breaker === "closed" ||
                (state.breaker === "open" &&
                  new Date(state.breaker_since).getTime() + 2_500 < Date.now());
            }, { what: "Twilio's breaker ready for a probe", timeoutMs: waitMs });
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
                    expiry_date: endDate,
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
            await eventually(async () => {
              const [state] = await sql`
                select breaker from public.provider_state where provider = 'twilio'`;
              return state.breaker === "closed";
            }, { what: "Twilio's breaker closed", timeoutMs: waitMs });
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
        "nothing twice: a replayed day queues nothing, each message reached one vendor once",
        async () => {
          const ids = async () =>
            [...await messagesOf(amrit.customerId), ...await messagesOf(balwinder.customerId)]
              .map((m) => m.id).sort();
          const before = await ids();
          await runCadence(stepAsOf(endDate, -30));
          assert.deepEqual(await ids(), before, "the replay queued nothing new");
          // Four reminders and the probe; the blocked desk email never left.
          assert.equal(sentIds.length, 5);
          for (const id of sentIds) {
            let received = 0;
            for (const vendor of ["twilio", "aws_sns", "aws_ses", "sendgrid", "whatsapp_cloud"]) {
              received += (await acceptedBy(vendor, id)).length;
            }
            assert.equal(received, 1, `message ${id} reached one vendor once`);
          }
          assert.deepEqual(
            (await messagesOf(amrit.customerId)).map((m) => [m.channel, m.status, m.provider]),
            [["sms", "delivered", "twilio"], ["sms", "sent", "aws_sns"], [
              "sms",
              "delivered",
              "twilio",
            ]],
          );
          assert.deepEqual(
            (await messagesOf(balwinder.customerId)).map((m) => [m.channel, m.status]),
            [["email", "undeliverable"], ["sms", "sent"], ["email", "blocked"]],
          );
        },
      );
    } finally {
      await ladder.restore();
      await restoreRates();
    }
  },
);
