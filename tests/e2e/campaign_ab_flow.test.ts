// Journey 5 (issue 14): a manager's campaign to 10,000 customers with an A/B split of two
// WhatsApp templates and an SMS follow-up for those who did not read it, through the public
// surfaces only: the API over HTTP as the manager (create, preview, launch, pause, resume, stats),
// the worker sending to the sandbox, the sandbox's signed WhatsApp and Twilio callbacks to the
// gateway, and pg_cron's flow job (private.advance_campaign_flows) called as pg_cron would.
// SQL is for the policy feed (the 10,000 customers and cases), the operator's settings and the
// assertions.
//
// The customers' behaviour comes from the sandbox's control API: before the pause WhatsApp
// reports sent, delivered and read for every message (the first 25 fail with 131026 instead);
// while paused the callbacks are switched off, so whoever the campaign reaches after the resume
// has not read it when the flow job runs. The SMS step must go to exactly those who had not
// read: the late ones, the failed, and those the gate blocked on WhatsApp (no phone: blocked
// again on SMS).
//
// Time: the API launches, pauses and resumes at the real now() (it takes no as_of), so this
// journey lives at the real clock and the follow-up waits 0 hours; the flow job is called with
// as_of = now(). The send hours are held open for the journey (journey() in _stack.ts) so it
// runs at any hour.
import assert from "node:assert/strict";
import {
  acceptedBy,
  adminSql,
  advanceCampaignFlows,
  api,
  type CampaignCounts,
  eventually,
  journey,
  json,
  sandboxControl,
  sandboxGet,
  tokenFor,
} from "./_stack.ts";
import type { CallbackRecord } from "../../sandbox/state.ts";
import {
  type CampaignBook,
  cpAgent,
  cpManager,
  makeCampaignBook,
  stepOf,
  tallyMessages,
  tuneForJourney,
} from "./_campaign_journey.ts";

/** Recipients: the 10,000. */
const size = 10_000;
/** WhatsApp sends whose callbacks report a failure (131026, undeliverable) before the pause. */
const failingSends = 25;
/** The worker's drain (functions/_shared/dispatch.ts defaults): batches of 100, two in hand. */
const dispatchBatch = 100;
const lanes = 2;
/** A WhatsApp utility message, in paise (MESSAGE_RATES_PAISE). */
const whatsappUtilityPaise = 11.5;
/** An SMS segment, in paise (MESSAGE_RATES_PAISE); Twilio's callbacks report no price here. */
const smsSegmentPaise = 25;

/** A row of GET /campaigns/{id}/stats. */
interface StatsRow {
  variant: string;
  recipients: number;
  queued: number;
  sent: number;
  delivered: number;
  read: number;
  failed: number;
  blocked: number;
  cancelled: number;
  cost_paise: string;
  read_rate: number | null;
}

/** How many times the sandbox accepted each of our message ids, for the ids in `ours`. */
async function acceptedTimes(vendor: string, ours: Set<string>): Promise<Map<string, number>> {
  const requests = await acceptedBy(vendor);
  const times = new Map<string, number>();
  for (const r of requests) {
    if (r.ourId && ours.has(r.ourId)) times.set(r.ourId, (times.get(r.ourId) ?? 0) + 1);
  }
  return times;
}

/**
 * A campaign's messages per flow step and channel, as far as a completed campaign can no longer
 * change them: how many, a digest of their ids, how many reached a vendor (sent_at set) and how
 * many are still to go (queued or sending).
 */
async function settledMessages(sql: ReturnType<typeof adminSql>, campaignId: string) {
  return [
    ...await sql<
      { step: number; channel: string; n: number; ids: string; sent: number; pending: number }[]
    >`
      select split_part(m.idempotency_key, ':', 4)::int as step, m.channel::text as channel,
             count(*)::int as n, md5(string_agg(m.id::text, ',' order by m.id)) as ids,
             count(m.sent_at)::int as sent,
             count(*) filter (where m.status in ('queued', 'sending'))::int as pending
        from public.messages m
       where m.campaign_id = ${campaignId}
       group by 1, 2
       order by 1, 2`,
  ];
}

/** Twilio's last status callback of a send: it reports one of these, after queued and sent. */
const lastSmsEvents = new Set(["delivered", "undelivered", "failed"]);

/**
 * How far Twilio's status callbacks of the campaign's SMS have gone (the sandbox's record of its
 * callback attempts): SMS sent, SMS whose last callback Twilio has made, and of those how many
 * the gateway did not take (not 2xx).
 */
async function smsCallbacks(sql: ReturnType<typeof adminSql>, campaignId: string) {
  const rows = await sql<{ provider_message_id: string }[]>`
    select provider_message_id from public.messages
     where campaign_id = ${campaignId} and channel = 'sms' and sent_at is not null
       and provider = 'twilio'`;
  const last = new Map<string, number>();
  for (const c of await sandboxGet<CallbackRecord[]>("_inspect/twilio/callbacks")) {
    if (c.providerMessageId && lastSmsEvents.has(c.event)) last.set(c.providerMessageId, c.status);
  }
  let done = 0, refused = 0;
  for (const { provider_message_id: id } of rows) {
    const status = last.get(id);
    if (status === undefined) continue;
    done++;
    if (status < 200 || status >= 300) refused++;
  }
  return { sms: rows.length, done, refused };
}

journey(
  "campaign: 10,000 customers, A/B on WhatsApp, SMS to whoever did not read; launched, paused, " +
    "resumed, completed; stats add up per variant",
  async (t) => {
    /** A step of the journey; a failed one ends the journey (the next ones would only fail). */
    const step = async (name: string, fn: () => Promise<void>) => {
      const started = Date.now();
      if (!(await t.step(name, fn))) throw new Error(`the journey stopped at: ${name}`);
      timings.push(`${name.split(":")[0]} ${((Date.now() - started) / 1000).toFixed(1)} s`);
    };
    const timings: string[] = [];
    const sql = adminSql();
    const tag = crypto.randomUUID().replaceAll("-", "").slice(0, 8);
    const restore = await tuneForJourney({ ratePerSecond: 1000 });
    const manager = await tokenFor(cpManager);
    const agent = await tokenFor(cpAgent);
    let book: CampaignBook;
    let campaignId = "";
    let preview: CampaignCounts;
    try {
      await step("the policy feed brings 10,000 customers with open cases", async () => {
        book = await makeCampaignBook(sql, { size, tag });
        const [row] = await sql`
          select count(*)::int as cases
            from public.renewal_cases rc join public.customers cu on cu.id = rc.customer_id
           where cu.city = ${book.city} and rc.stage = 'new'`;
        assert.equal(row.cases, size);
        // Meta approves the two variants' templates (the sandbox's registry).
        const registry = await sandboxControl<{ name: string }[]>("whatsapp_cloud/templates", {
          templates: [book.templates.a, book.templates.b].map((name) => ({
            name,
            language: "en",
            category: "utility",
            bodyParams: 3,
          })),
        });
        assert.ok(registry.some((r) => r.name === book.templates.b));
      });

      await step("a manager drafts the A/B campaign and its SMS follow-up", async () => {
        const draft = {
          name: `Renewal push ${tag}`,
          channel: "whatsapp",
          purpose: "service",
          variants: [
            { code: "A", template_code: book.templates.a, weight: 50 },
            { code: "B", template_code: book.templates.b, weight: 50 },
          ],
          steps: [
            {
              channel: "sms",
              template_code: book.templates.sms,
              wait_hours: 0,
              condition: "not_read",
            },
          ],
          audience_filter: { city: book.city },
        };
        // An agent does not run campaigns: nothing is made.
        await json(await api("/campaigns", { token: agent, method: "POST", body: draft }), 403);
        const created = await json<{ id: string; status: string; variants: unknown[] }>(
          await api("/campaigns", { token: manager, method: "POST", body: draft }),
          201,
        );
        campaignId = created.id;
        assert.equal(created.status, "draft");
        assert.equal(created.variants.length, 2);
        const [row] = await sql`
          select count(*)::int as n from public.campaigns where name = ${draft.name}`;
        assert.equal(row.n, 1, "the agent's attempt left nothing");
      });

      await step("preview: audience, blocked per reason, cost; nothing kept", async () => {
        preview = await json<CampaignCounts>(
          await api(`/campaigns/${campaignId}/preview`, { token: manager }),
        );
        const blocked = Object.values(book.blockedFirst).reduce((a, b) => a + b, 0);
        assert.deepEqual(preview, {
          audience: size,
          queued: size - blocked,
          deferred: 0,
          blocked,
          blocked_reasons: book.blockedFirst,
          estimated_cost_paise: String((size - blocked) * whatsappUtilityPaise),
          created: 0,
        });
        const [row] = await sql`
          select (select count(*)::int from public.messages where campaign_id = ${campaignId}) as m,
                 (select count(*)::int from public.campaign_recipients
                   where campaign_id = ${campaignId}) as r`;
        assert.deepEqual({ ...row }, { m: 0, r: 0 }, "a preview keeps no message, no recipient");
      });

      await step("launch: the preview's numbers, each recipient in one variant", async () => {
        // The customers reached before the pause read at once; the first sends fail on WhatsApp.
        await sandboxControl("whatsapp_cloud", {
          callbacks: { mode: "normal" },
          failNext: { code: 131026, count: failingSends, via: "callback" },
        });
        const launched = await json<CampaignCounts>(
          await api(`/campaigns/${campaignId}/launch`, { token: manager, method: "POST" }),
        );
        assert.equal(launched.status, "running");
        const { created, status: _status, ...numbers } = launched;
        const { created: _none, ...previewed } = preview;
        assert.deepEqual(numbers, previewed, "the launch did what the preview said");
        assert.equal(created, size, "every recipient has a message, the blocked ones included");

        const variants = await sql<{ code: string; n: number; wrong_template: number }[]>`
          select v.code, count(*)::int as n,
                 count(*) filter (where t.code <> v.template_code)::int as wrong_template
            from public.campaign_recipients r
            join public.campaign_variants v on v.id = r.variant_id
            join public.messages m on m.id = r.message_id
            join public.templates t on t.id = m.template_id
           where r.campaign_id = ${campaignId}
           group by v.code order by v.code`;
        assert.deepEqual(variants.map((v) => v.code), ["A", "B"]);
        assert.equal(variants[0].n + variants[1].n, size);
        for (const v of variants) {
          // A 50/50 hash split of 10,000: 5,000 ± 250 is five standard deviations.
          assert.ok(Math.abs(v.n - size / 2) <= 250, `variant ${v.code}: ${v.n} recipients`);
          assert.equal(v.wrong_template, 0, `variant ${v.code} sends its own template`);
        }
        // A second launch is refused (409) and creates nothing.
        const again = await api(`/campaigns/${campaignId}/launch`, {
          token: manager,
          method: "POST",
        });
        assert.equal(again.status, 409, await again.text());
        assert.equal(again.headers.get("content-type"), "application/problem+json");
        const [{ n: afterAgain }] = await sql<{ n: number }[]>`
          select count(*)::int as n from public.messages where campaign_id = ${campaignId}`;
        assert.equal(afterAgain, size, "no message added by the refused launch");
      });

      let heldAtPause = 0;
      let earlyIds: string[] = [];
      await step(
        "the worker sends; a pause stops new sends within one dispatch batch",
        async () => {
          await eventually(async () => {
            const step1 = stepOf(await tallyMessages(sql, campaignId), 1);
            return step1.sent >= 1500;
          }, { timeoutMs: 120_000, intervalMs: 50, what: "1,500 first messages sent" });
          // An agent may not pause it.
          await json(
            await api(`/campaigns/${campaignId}/pause`, { token: agent, method: "POST" }),
            403,
          );
          const [{ asked }] = await sql`select clock_timestamp() as asked`;
          const paused = await json<{ status: string; messages_held: number }>(
            await api(`/campaigns/${campaignId}/pause`, { token: manager, method: "POST" }),
          );
          const [{ answered }] = await sql`select clock_timestamp() as answered`;
          assert.equal(paused.status, "paused");
          heldAtPause = paused.messages_held;
          assert.ok(heldAtPause > 0, "the pause came before the worker had sent everything");
          // What the worker had claimed when the pause was answered goes out; nothing more.
          const settled = await eventually(async () => {
            const step1 = stepOf(await tallyMessages(sql, campaignId), 1);
            return (step1.byStatus.sending ?? 0) === 0 && step1;
          }, { timeoutMs: 60_000, what: "the batches in hand sent" });
          const [after] = await sql`
          select count(*) filter (where m.sending_at > ${answered})::int as claimed_after,
                 count(*) filter (where m.sent_at > ${answered})::int as sent_after,
                 count(*) filter (where m.sent_at > ${asked})::int as sent_since_asked,
                 count(*) filter (where m.status = 'queued' and m.next_attempt_at = 'infinity'
                                    and m.deferred_reason = 'campaign_paused')::int as held
            from public.messages m
           where m.campaign_id = ${campaignId}`;
          console.log(
            `pause: answered in ${
              answered.getTime() - asked.getTime()
            } ms; ${after.sent_since_asked} sent since ` +
              `it was asked, ${after.sent_after} since it was answered`,
          );
          assert.equal(after.claimed_after, 0, "nothing claimed once the pause was answered");
          assert.ok(
            after.sent_after <= dispatchBatch * lanes,
            `${after.sent_after} sent after the pause: at most the batches in hand`,
          );
          assert.equal(after.held, heldAtPause, "every held message is still held");
          assert.equal(settled.sent + heldAtPause + preview.blocked, size);
          // Two of the worker's ticks later nothing more has gone, at the vendor either; the flow
          // job leaves a paused campaign alone.
          await new Promise((resolve) => setTimeout(resolve, 2_500));
          await advanceCampaignFlows();
          const later = await tallyMessages(sql, campaignId);
          assert.equal(stepOf(later, 1).sent, settled.sent, "no send while paused");
          assert.equal(stepOf(later, 2).total, 0, "no follow-up while paused");
          const ids = await sql<{ id: string }[]>`
          select id from public.messages where campaign_id = ${campaignId} and sent_at is not null`;
          const accepted = await acceptedTimes("whatsapp_cloud", new Set(ids.map((r) => r.id)));
          assert.equal(accepted.size, settled.sent, "the vendor has exactly what was sent");
          earlyIds = ids.map((r) => r.id);
          // Pausing twice is refused.
          await json(
            await api(`/campaigns/${campaignId}/pause`, { token: manager, method: "POST" }),
            409,
          );
        },
      );

      await step("resume: the held messages go, none twice", async () => {
        // From now on the customers do not read (no callbacks): they will not have read in time.
        await sandboxControl("whatsapp_cloud", { callbacks: { mode: "none" } });
        const resumed = await json<{ status: string; messages_resumed: number }>(
          await api(`/campaigns/${campaignId}/resume`, { token: manager, method: "POST" }),
        );
        assert.deepEqual(resumed, { status: "running", messages_resumed: heldAtPause });
        const step1 = await eventually(async () => {
          const s = stepOf(await tallyMessages(sql, campaignId), 1);
          return (s.byStatus.queued ?? 0) + (s.byStatus.sending ?? 0) === 0 && s;
        }, { timeoutMs: 180_000, what: "every first message sent" });
        assert.equal(step1.total, size);
        assert.equal(step1.sent, preview.queued);
        // Those reached before the pause have read (or failed) once their callbacks are in.
        const early = await eventually(async () => {
          const [row] = await sql`
            select count(*) filter (where status = 'read' and delivered_at is not null)::int
                     as read,
                   count(*) filter (where status in ('failed', 'undeliverable'))::int as failed
              from public.messages where id = any (${earlyIds}::uuid[])`;
          return row.read + row.failed === earlyIds.length && row;
        }, { timeoutMs: 60_000, what: "the callbacks of those reached before the pause" });
        assert.equal(early.failed, failingSends, "the failures the sandbox was told to report");
        // One send per message at the vendor, one message per recipient and step.
        const ids = await sql<{ id: string }[]>`
          select id from public.messages where campaign_id = ${campaignId} and sent_at is not null`;
        const accepted = await acceptedTimes("whatsapp_cloud", new Set(ids.map((r) => r.id)));
        assert.equal(accepted.size, preview.queued);
        assert.deepEqual([...new Set(accepted.values())], [1], "no message sent twice");
        const [keys] = await sql`
          select count(*)::int as messages,
                 count(distinct (customer_id, split_part(idempotency_key, ':', 4)))::int as pairs
            from public.messages where campaign_id = ${campaignId}`;
        assert.equal(keys.messages, keys.pairs);
      });

      let notRead = 0;
      await step("the flow job: SMS exactly to those who had not read", async () => {
        const [before] = await sql`
          select count(*) filter (where m.read_at is null)::int as not_read,
                 count(*) filter (where m.read_at is not null)::int as read
            from public.campaign_recipients r join public.messages m on m.id = r.message_id
           where r.campaign_id = ${campaignId}`;
        notRead = before.not_read;
        assert.ok(before.read > 0 && notRead > 0, `read ${before.read}, not read ${notRead}`);
        await advanceCampaignFlows();
        const [moved] = await sql`
          with sms as (
            select m.customer_id, m.status::text as status, m.blocked_reason
              from public.messages m
             where m.campaign_id = ${campaignId} and m.idempotency_key like '%:2'
          ),
          unread as (
            select m.customer_id
              from public.messages m
             where m.campaign_id = ${campaignId} and m.idempotency_key like '%:1'
               and m.read_at is null
          )
          select (select count(*)::int from sms) as sms,
                 (select count(*)::int from sms where status = 'blocked'
                                                   and blocked_reason = 'no_address') as no_phone,
                 (select count(*)::int from (select customer_id from sms
                                             except select customer_id from unread) x) as extra,
                 (select count(*)::int from (select customer_id from unread
                                             except select customer_id from sms) x) as missing,
                 (select count(*)::int from public.campaign_recipients
                   where campaign_id = ${campaignId} and state = 'active') as active,
                 (select count(*)::int from public.campaign_recipients
                   where campaign_id = ${campaignId} and step = 2) as at_step_2`;
        assert.deepEqual({ ...moved }, {
          sms: notRead,
          no_phone: book.withoutPhone,
          extra: 0,
          missing: 0,
          active: 0,
          at_step_2: notRead,
        });
        const step2 = await eventually(async () => {
          const s = stepOf(await tallyMessages(sql, campaignId), 2);
          return (s.byStatus.queued ?? 0) + (s.byStatus.sending ?? 0) === 0 && s;
        }, { timeoutMs: 180_000, what: "every SMS sent" });
        assert.equal(step2.sent, notRead - book.withoutPhone);
        const ids = await sql<{ id: string }[]>`
          select id from public.messages
           where campaign_id = ${campaignId} and channel = 'sms' and sent_at is not null`;
        const accepted = await acceptedTimes("twilio", new Set(ids.map((r) => r.id)));
        assert.equal(accepted.size, notRead - book.withoutPhone);
        assert.deepEqual([...new Set(accepted.values())], [1], "no SMS sent twice");
      });

      await step("the campaign completes; nothing more is sent", async () => {
        await advanceCampaignFlows();
        const campaign = await json<{ status: string; completed_at: string | null }>(
          await api(`/campaigns/${campaignId}`, { token: manager }),
        );
        assert.equal(campaign.status, "completed");
        assert.ok(campaign.completed_at);
        // What cannot move once the campaign is done: its messages (ids) per step and channel,
        // how many reached a vendor, none left to go. Their statuses still move while the SMS
        // delivery callbacks come in, so they are not compared here.
        const before = await settledMessages(sql, campaignId);
        assert.deepEqual(before.map((r) => [r.step, r.channel, r.pending]), [
          [1, "whatsapp", 0],
          [2, "sms", 0],
        ]);
        await advanceCampaignFlows();
        assert.deepEqual(await settledMessages(sql, campaignId), before);
        await json(
          await api(`/campaigns/${campaignId}/resume`, { token: manager, method: "POST" }),
          409,
        );
        const relaunch = await api(`/campaigns/${campaignId}/launch`, {
          token: manager,
          method: "POST",
        });
        await json(relaunch, 409);
      });

      await step("stats per variant add up to the recipients, and the cost", async () => {
        // The SMS callbacks (sent, delivered) may still be coming: wait until Twilio has made
        // the last one of every SMS, so that no status moves while the stats are read. (Twilio
        // does not retry a status callback the gateway could not take: such an SMS stays sent.)
        const callbacks = await eventually(async () => {
          const c = await smsCallbacks(sql, campaignId);
          return c.done === c.sms && c;
        }, { timeoutMs: 180_000, intervalMs: 1_000, what: "Twilio's last callback of every SMS" });
        console.log(
          `SMS callbacks: ${callbacks.sms} SMS, ${callbacks.refused} last callbacks refused`,
        );
        const { data } = await json<{ data: StatsRow[] }>(
          await api(`/campaigns/${campaignId}/stats`, { token: manager }),
        );
        await json(await api(`/campaigns/${campaignId}/stats`, { token: agent }), 403);
        assert.deepEqual(data.map((r) => r.variant), ["A", "B"]);
        // The variants' figures counted here from each recipient's own messages; the cost
        // from the unit rates: a WhatsApp utility message 11.5 paise, an SMS segment 25.
        const [segments] = await sql`
          select count(*) filter (where private.sms_segments(body) <> 1)::int as longer
            from public.messages where campaign_id = ${campaignId} and channel = 'sms'`;
        assert.equal(segments.longer, 0, "every SMS is one segment");
        const expected = await sql<
          {
            code: string;
            recipients: number;
            read: number;
            sent: number;
            failed: number;
            blocked: number;
            whatsapp_sent: number;
            sms_sent: number;
          }[]
        >`
          select v.code, count(*)::int as recipients,
                 count(*) filter (where w.status = 'read')::int as read,
                 count(*) filter (where w.status = 'sent')::int as sent,
                 count(*) filter (where w.status in ('failed', 'undeliverable'))::int as failed,
                 count(*) filter (where w.status = 'blocked')::int as blocked,
                 count(w.sent_at)::int as whatsapp_sent, count(s.sent_at)::int as sms_sent
            from public.campaign_recipients r
            join public.campaign_variants v on v.id = r.variant_id
            join public.messages w
              on w.idempotency_key = format('campaign:%s:%s:1', r.campaign_id, r.customer_id)
            left join public.messages s
              on s.idempotency_key = format('campaign:%s:%s:2', r.campaign_id, r.customer_id)
           where r.campaign_id = ${campaignId}
           group by v.code order by v.code`;
        let recipients = 0, read = 0, failed = 0, blocked = 0;
        for (const [i, row] of data.entries()) {
          const parts = row.queued + row.sent + row.delivered + row.read + row.failed +
            row.blocked + row.cancelled;
          assert.equal(parts, row.recipients, `variant ${row.variant}: the columns sum up`);
          assert.equal(row.queued, 0);
          assert.equal(row.cancelled, 0);
          assert.equal(row.delivered, 0, "every delivered message was also read");
          const want = expected[i];
          assert.deepEqual(
            {
              recipients: row.recipients,
              read: row.read,
              sent: row.sent,
              failed: row.failed,
              blocked: row.blocked,
              cost: Number(row.cost_paise),
            },
            {
              recipients: want.recipients,
              read: want.read,
              sent: want.sent,
              failed: want.failed,
              blocked: want.blocked,
              cost: want.whatsapp_sent * whatsappUtilityPaise + want.sms_sent * smsSegmentPaise,
            },
            `variant ${row.variant}`,
          );
          recipients += row.recipients;
          read += row.read;
          failed += row.failed;
          blocked += row.blocked;
        }
        assert.equal(recipients, size);
        assert.equal(failed, failingSends);
        assert.equal(blocked, preview.blocked);
        assert.equal(size - read, notRead, "the SMS step went to everyone the stats show unread");
      });
      console.log(`campaign journey: ${timings.join(", ")}`);
    } finally {
      await sandboxControl("whatsapp_cloud", { callbacks: { mode: "normal" }, failNext: null })
        .catch(() => {});
      await restore();
    }
  },
);
