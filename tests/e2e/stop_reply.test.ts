// Journey 3: a customer replies STOP. Simran (Punjabi, motor, prefers SMS) gave service and
// marketing consent on SMS and email at onboarding. Her −60 renewal reminder comes by SMS; an
// offer of a marketing campaign waits for its window; she replies STOP to the SMS (the sandbox's
// Twilio posts it, signed, to our webhook, and opts her number out as Twilio does). Then:
// marketing consent on SMS is withdrawn, with the reply as evidence, in the consent ledger; the
// waiting offer is cancelled; a new campaign and a desk offer are blocked (consent_withdrawn), and
// no offer ever reaches a vendor; the STOP is confirmed at most once, and never by an
// unregistered SMS; her other consents stand; and the ladder's service reminders go on, on a
// channel that can carry them.
// Timeline in the past: expiry today + 14, so −60 is 46 days ago, −30 16 days ago and −15
// yesterday; the STOP and the campaigns happen at the real now, between the −60 and the −30 runs
// (the gate judges each message by the consents at the moment it is queued).
import assert from "node:assert/strict";
import {
  acceptedBy,
  addDays,
  adminSql,
  api,
  type CampaignCounts,
  eventually,
  holdProviderRates,
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
  dltText,
  journeyLanguage,
  messagesOf,
  onboard,
  punjabiLadder,
  snsAttribute,
  stepAsOf,
  stepMessage,
  type TemplateRow,
  waitStatus,
} from "./_channel_journeys.ts";

const agentEmail = "arjun.agent@py360.test";
/** Arjun's manager (DEL_CP): runs campaigns over his subtree. */
const managerEmail = "cp.manager@py360.test";

/**
 * A daily window for a campaign's sends that opens at least an hour after now (IST), so that
 * its offer waits queued: two hours from now while that is before 21:00, else 10:00 tomorrow.
 */
function laterWindow(): { window_start: string; window_end: string } {
  const hour = new Date(Date.now() + 330 * 60_000).getUTCHours();
  const start = hour + 2 <= 20 ? hour + 2 : 10;
  const pad = (h: number) => `${String(h).padStart(2, "0")}:00`;
  return { window_start: pad(start), window_end: pad(start + 1) };
}

journey(
  "journey 3: STOP → consent withdrawn → no more marketing; service reminders go on",
  async (t) => {
    const sql = adminSql();
    const adminToken = await tokenFor("admin@py360.test");
    const agentToken = await tokenFor(agentEmail);
    const managerToken = await tokenFor(managerEmail);
    await ordinaryVendorDay();
    const restoreRates = await holdProviderRates();
    const ladder = await punjabiLadder(adminToken);
    let offer: TemplateRow | undefined;
    try {
      const tag = freshTag();
      const city = `Ludhiana ${tag}`;
      const simran = await onboard({
        label: "Simran Journey",
        agentEmail,
        endDate: addDays(istToday(), 14),
        preferredChannel: "sms",
        city,
        consents: [
          ["sms", "service"],
          ["sms", "marketing"],
          ["email", "service"],
          ["email", "marketing"],
        ],
      });
      // The offer, a marketing SMS on a registered DLT template carrying the withdrawal link.
      const [base] = await sql`
      select rtrim(value #>> '{}', '/') as url from public.app_settings
       where key = 'CONSENT_PAGE_BASE_URL'`;
      const offerBody = `ਨਵੀਂ ਪੇਸ਼ਕਸ਼ {{customer_name}}: ਸਿਹਤ ਬੀਮੇ ਤੇ 10% ਛੋਟ। ਬੰਦ ਕਰਨ ਲਈ: ${base.url}/w/` +
        "{{withdrawal_token_1}}{{withdrawal_token_2}} -PYRNWL";
      offer = await json<TemplateRow>(
        await api("/templates", {
          token: adminToken,
          method: "POST",
          body: {
            code: `e2e_offer_${tag.toLowerCase()}`,
            channel: "sms",
            language: journeyLanguage,
            purpose: "marketing",
            body: offerBody,
            dlt_entity_id: "1201160000000071234",
            dlt_header: "PYRNWL",
            dlt_template_id: `12071700000${String(Date.now()).slice(-8)}`,
            dlt_text: dltText(offerBody),
          },
        }),
        201,
      );
      let caseId = "";
      let stopAt = new Date();

      await t.step(
        "−60: her case opens, the service reminder comes by SMS (preferred)",
        async () => {
          const asOf = stepAsOf(simran.endDate, -60);
          await runDailyJobs(asOf);
          const found = await caseOf(simran.policyId);
          assert.ok(found, "the case is open");
          caseId = found.id;
          await runCadence(asOf);
          const reminder = await stepMessage(simran.customerId, caseId, -60);
          assert.ok(reminder, "the −60 reminder is queued");
          assert.deepEqual(
            [reminder.channel, reminder.purpose, reminder.choice_reason, reminder.recipient],
            ["sms", "service", "preferred_channel", simran.phone],
          );
          const delivered = await waitStatus(simran.customerId, reminder.id, ["delivered"], "−60");
          assert.equal(delivered.provider, "twilio");
          assert.equal((await acceptedBy("twilio", reminder.id)).length, 1);
        },
      );

      let plannedOffer: OutboxRow | undefined;
      await t.step(
        "an offer is planned: the campaign's marketing SMS waits for its window",
        async () => {
          const created = await json<{ id: string }>(
            await api("/campaigns", {
              token: managerToken,
              method: "POST",
              body: {
                name: `Health offer ${tag}`,
                channel: "sms",
                purpose: "marketing",
                template_code: offer!.code,
                audience_filter: { city },
                spread: { rate_per_hour: 60, ...laterWindow() },
              },
            }),
            201,
          );
          const launched = await json<CampaignCounts>(
            await api(`/campaigns/${created.id}/launch`, { token: managerToken, method: "POST" }),
          );
          assert.deepEqual(
            [launched.audience, launched.queued, launched.deferred, launched.blocked],
            [1, 1, 1, 0],
          );
          plannedOffer = (await messagesOf(simran.customerId)).find((m) =>
            m.purpose === "marketing"
          );
          assert.ok(plannedOffer, "the offer is in the outbox");
          assert.deepEqual([plannedOffer.channel, plannedOffer.status], ["sms", "queued"]);
          assert.match(plannedOffer.body, new RegExp(`${base.url}/w/[A-Za-z0-9_-]{52} -PYRNWL$`));
        },
      );

      await t.step(
        "she replies STOP: SMS marketing consent withdrawn, in the ledger, with the reply",
        async () => {
          stopAt = new Date();
          const reply = await sandboxControl<{ status: number }>("twilio/reply", {
            from: simran.phone,
            text: "STOP",
          });
          assert.equal(reply.status, 200, "our webhook took the signed reply");
          const consent = await eventually(async () => {
            const [row] = await sql`
          select status::text, source, recorded_by, evidence from public.consents
           where customer_id = ${simran.customerId} and channel = 'sms' and purpose = 'marketing'`;
            return row?.status === "withdrawn" && row;
          }, { what: "SMS marketing consent withdrawn" });
          assert.deepEqual(
            [
              consent.source,
              consent.recorded_by,
              consent.evidence.provider,
              consent.evidence.reply,
            ],
            ["sms_stop", null, "twilio", "STOP"],
          );
          const ledger = await sql`
        select channel::text, purpose::text, status::text, source from public.consent_ledger
         where customer_id = ${simran.customerId} order by recorded_at, id`;
          assert.deepEqual(ledger.map((r) => [r.channel, r.purpose, r.status, r.source]), [
            ["sms", "service", "granted", "web_form"],
            ["sms", "marketing", "granted", "web_form"],
            ["email", "service", "granted", "web_form"],
            ["email", "marketing", "granted", "web_form"],
            ["sms", "marketing", "withdrawn", "sms_stop"],
          ]);
          // STOP is about offers on this number: her other consents stand.
          const standing = await sql`
        select channel::text, purpose::text, status::text from public.consents
         where customer_id = ${simran.customerId} order by channel::text, purpose::text`;
          assert.deepEqual(standing.map((r) => [r.channel, r.purpose, r.status]), [
            ["email", "marketing", "granted"],
            ["email", "service", "granted"],
            ["sms", "marketing", "withdrawn"],
            ["sms", "service", "granted"],
          ]);
        },
      );

      await t.step(
        "the offer waiting for its window is cancelled and never reaches a vendor",
        async () => {
          const [row] = await sql`select status::text from public.messages where id = ${
            plannedOffer!.id
          }`;
          assert.equal(row.status, "cancelled");
          assert.equal((await acceptedBy("twilio", plannedOffer!.id)).length, 0);
          assert.equal((await acceptedBy("aws_sns", plannedOffer!.id)).length, 0);
        },
      );

      await t.step("no more marketing: a new campaign and a desk offer are blocked", async () => {
        const created = await json<{ id: string }>(
          await api("/campaigns", {
            token: managerToken,
            method: "POST",
            body: {
              name: `Health offer again ${tag}`,
              channel: "sms",
              purpose: "marketing",
              template_code: offer!.code,
              audience_filter: { city },
            },
          }),
          201,
        );
        const launched = await json<CampaignCounts>(
          await api(`/campaigns/${created.id}/launch`, { token: managerToken, method: "POST" }),
        );
        assert.deepEqual(
          [launched.audience, launched.queued, launched.blocked, launched.blocked_reasons],
          [1, 0, 1, { consent_withdrawn: 1 }],
        );
        const desk = await json<{ status: string; blocked_reason: string | null }>(
          await api("/messages", {
            token: agentToken,
            method: "POST",
            headers: { "idempotency-key": `journey3-offer-${simran.customerId}` },
            body: {
              customer_id: simran.customerId,
              channel: "sms",
              template_code: offer!.code,
              variables: { customer_name: simran.customerName },
            },
          }),
          201,
        );
        assert.deepEqual([desk.status, desk.blocked_reason], ["blocked", "consent_withdrawn"]);
      });

      await t.step("the STOP is confirmed at most once, never by an unregistered SMS", async () => {
        const confirmations = (await messagesOf(simran.customerId)).filter((m) =>
          m.idempotency_key.startsWith(`event:${simran.customerId}:opt_out:sms:`)
        );
        assert.equal(confirmations.length, 1, "one confirmation for one STOP");
        const [confirmation] = confirmations;
        assert.deepEqual([confirmation.channel, confirmation.purpose], ["sms", "transactional"]);
        if (confirmation.template_code === null) {
          // No SMS opt_out_confirmation template registered with DLT (none is, unless another
          // journey added one): the free text is blocked rather than sent unregistered, and
          // nothing reached a vendor (Twilio answers a STOP itself).
          assert.deepEqual([confirmation.status, confirmation.blocked_reason], [
            "blocked",
            "sms_needs_dlt_template",
          ]);
          assert.equal((await acceptedBy("twilio", confirmation.id)).length, 0);
          assert.equal((await acceptedBy("aws_sns", confirmation.id)).length, 0);
        } else {
          assert.equal(confirmation.template_code, "opt_out_confirmation");
        }
      });

      await t.step(
        "−30: the service reminder still reaches her by SMS, through AWS SNS (Twilio refuses her number after the STOP)",
        async () => {
          // STOP withdraws marketing only, so the −30 service SMS goes by her preferred channel;
          // Twilio's own opt-out list (which the STOP started, as the sandbox plays it) refuses
          // it with 21610, a refusal of the recipient by that provider: AWS SNS carries it with
          // the same DLT ids, the number is not suppressed, and Twilio's breaker is untouched.
          await runCadence(stepAsOf(simran.endDate, -30));
          const reminder = await stepMessage(simran.customerId, caseId, -30);
          assert.ok(reminder, "the −30 reminder is queued");
          assert.deepEqual([reminder.channel, reminder.purpose, reminder.recipient], [
            "sms",
            "service",
            simran.phone,
          ]);
          const reached = await waitStatus(
            simran.customerId,
            reminder.id,
            ["sent", "delivered", "read"],
            "the −30 reminder",
          );
          assert.deepEqual([reached.provider, reached.last_error_code], ["aws_sns", "21610"]);
          assert.equal((await acceptedBy("twilio", reminder.id)).length, 0, "Twilio: none");
          const viaSns = await acceptedBy("aws_sns", reminder.id);
          assert.equal(viaSns.length, 1, "SNS accepted it once");
          assert.deepEqual([viaSns[0].to, viaSns[0].body], [simran.phone, reminder.body]);
          assert.deepEqual(
            ["AWS.MM.SMS.EntityId", "AWS.MM.SMS.TemplateId", "AWS.SNS.SMS.SenderID"].map(
              (name) => snsAttribute(viaSns[0], name),
            ),
            [ladder.sms.dlt_entity_id, ladder.sms.dlt_template_id, ladder.sms.dlt_header],
          );
          const suppressed = await sql`
            select count(*)::int as n from public.suppressions
             where channel = 'sms' and address = ${simran.phone}`;
          assert.equal(suppressed[0].n, 0, "her number is not suppressed");
          const opened = await sql`
            select count(*)::int as n from public.provider_breaker_events
             where provider = 'twilio' and breaker = 'open' and at >= ${stopAt}`;
          assert.equal(opened[0].n, 0, "Twilio's breaker did not open");
        },
      );

      await t.step(
        "−15: the next service reminder reaches her, by a channel the rules allow",
        async () => {
          // Play the −30 day (see the step above) before the −15 one, as pg_cron would have.
          await runCadence(stepAsOf(simran.endDate, -30));
          const thirty = await stepMessage(simran.customerId, caseId, -30);
          assert.ok(thirty, "the −30 reminder was queued");
          await waitStatus(
            simran.customerId,
            thirty.id,
            ["sent", "delivered", "read", "failed", "undeliverable"],
            "the −30 reminder settled",
          );
          await runCadence(stepAsOf(simran.endDate, -15));
          const reminder = await stepMessage(simran.customerId, caseId, -15);
          assert.ok(reminder, "the −15 reminder is queued");
          assert.deepEqual([reminder.purpose, reminder.template_code], ["service", "renewal_due"]);
          const reached = await waitStatus(
            simran.customerId,
            reminder.id,
            ["sent", "delivered", "read"],
            "the −15 reminder",
          );
          let accepted = 0;
          for (const vendor of ["twilio", "aws_sns", "aws_ses", "sendgrid"]) {
            accepted += (await acceptedBy(vendor, reached.id)).length;
          }
          assert.equal(accepted, 1, "one vendor took it, once");
        },
      );

      await t.step(
        "nothing marketing ever reached her after the STOP, on any channel",
        async () => {
          const after = (await messagesOf(simran.customerId)).filter((m) =>
            m.purpose === "marketing" && m.queued_at >= stopAt
          );
          // The second campaign's and the desk's offers, both kept blocked for the record.
          assert.deepEqual(after.map((m) => [m.status, m.blocked_reason]), [
            ["blocked", "consent_withdrawn"],
            ["blocked", "consent_withdrawn"],
          ]);
          const marketing = await sql`
        select count(*)::int as n from public.messages
         where customer_id = ${simran.customerId} and purpose = 'marketing'
           and status::text in ('sending', 'sent', 'delivered', 'read')`;
          assert.equal(marketing[0].n, 0);
          for (const vendor of ["twilio", "aws_sns"]) {
            const offers = (await acceptedTo(vendor, simran.phone)).filter((r) =>
              String(r.body ?? r.params.Body ?? "").includes("/w/")
            );
            assert.equal(offers.length, 0, `${vendor} carried no offer`);
          }
          const emails = (await acceptedTo("aws_ses", simran.email)).filter((r) =>
            String(r.body ?? "").includes("/w/")
          );
          assert.equal(emails.length, 0, "no offer by email either");
        },
      );
    } finally {
      if (offer) {
        await json(
          await api(`/templates/${offer.id}`, {
            token: adminToken,
            method: "PUT",
            body: { active: false },
          }),
        );
      }
      await ladder.restore();
      await restoreRates();
    }
  },
);
